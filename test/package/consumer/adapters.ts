/**
 * The adapters as a user of the published package and of each framework uses them, compiled by
 * test/package/packed.test.ts with `strict` in a project where the tarball and the frameworks (the
 * optional peers) are installed. It is a program of its own because the frameworks' own
 * declarations do not compile with `skipLibCheck: false` (@mastra/core's bundled AI SDK types,
 * @google/adk's imports of express and @google-cloud/storage), so users of those frameworks keep
 * `skipLibCheck` on; the adapters' own declarations are checked by `npm run api`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSessionManager } from "frontdesk";
import { FrontdeskSessionService } from "frontdesk/adapters/adk";
import { createChatStore } from "frontdesk/adapters/ai-sdk";
import { FrontdeskSaver } from "frontdesk/adapters/langgraph";
import { FrontdeskStore } from "frontdesk/adapters/mastra";
import { FrontdeskSession } from "frontdesk/adapters/openai-agents";
import { SessionListFeed, useSession, useSessions } from "frontdesk/react";

interface AppState {
  plan: string;
}

const dir = mkdtempSync(join(tmpdir(), "fd-consumer-adapters-"));
const report: Record<string, unknown> = {};
try {
  // A manager of the app's own state type serves every adapter on one SQLite file.
  const sessions = await createSessionManager<AppState>({
    store: `sqlite:${join(dir, "frontdesk.db")}`,
    defaultState: () => ({ plan: "free" }),
  });
  const alice = sessions.forUser("alice");

  const chats = createChatStore({ sessions: alice });
  await chats.saveChat({ id: "chat-1", messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "Hi" }] }] });
  report.aiSdk = (await chats.loadChat("chat-1")).map((message) => message.id);

  const agentsSession = new FrontdeskSession({ sessions: alice, sessionId: "agents-1" });
  await agentsSession.addItems([{ role: "user", content: "Hi" }]);
  report.openaiAgents = (await agentsSession.getItems()).length;

  const adk = new FrontdeskSessionService({ sessions });
  const adkSession = await adk.createSession({ appName: "consumer", userId: "alice", state: { "user:name": "Alice" } });
  report.adk = adkSession.state["user:name"];

  const saver = new FrontdeskSaver({ sessions: alice });
  report.langgraph = (await saver.getTuple({ configurable: { thread_id: "unknown" } })) ?? "no checkpoint";

  const memory = await new FrontdeskStore({ sessions: alice }).getStore("memory");
  const now = new Date();
  await memory?.saveThread({
    thread: {
      id: "thread-1",
      resourceId: "alice",
      title: "Mastra thread",
      createdAt: now,
      updatedAt: now,
      metadata: {},
    },
  });
  report.mastra = (await memory?.getThreadById({ threadId: "thread-1" }))?.title;

  // What the adapters wrote are ordinary sessions of alice.
  report.sessions = (await alice.listSessions()).items.map((session) => session.id).sort();
  // frontdesk/react loads with React installed; its feeds need a server only once started.
  const list = new SessionListFeed({ baseUrl: "http://127.0.0.1:9", apiKey: "fd_unused" }, { status: "active" });
  report.react = { hooks: [typeof useSession, typeof useSessions], list: list.getSnapshot().status };
  await sessions.store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
