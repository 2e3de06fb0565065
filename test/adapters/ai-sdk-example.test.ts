import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { createChatStore } from "../../src/adapters/ai-sdk/index.ts";
import { createSessionManager } from "../../src/index.ts";

const root = resolve(import.meta.dirname, "../..");

describe("examples/adapters/ai-sdk.mjs", () => {
  it("runs as written: the chat route streams a reply and the chat is stored in SQLite", async () => {
    // The example imports "frontdesk/adapters/ai-sdk", which resolves to the build.
    expect(existsSync(join(root, "dist/adapters/ai-sdk/index.js")), "run `npx tsc -p tsconfig.build.json`").toBe(true);
    const cwd = mkdtempSync(join(tmpdir(), "fd-ai-sdk-example-"));
    try {
      const out = execFileSync(process.execPath, [join(root, "examples/adapters/ai-sdk.mjs")], {
        cwd,
        encoding: "utf8",
      });
      expect(out).toBe("user A hotel in Lisbon?\nassistant Casa do Rio, by the river.\n");
      // What it stored is a Frontdesk session any other tool reads.
      const sessions = await createSessionManager({ store: `sqlite:${join(cwd, ".frontdesk/chats.db")}` });
      const [session] = (await sessions.listSessions({ userId: "alice" })).items;
      expect(session).toMatchObject({ tags: ["ai-sdk"], stats: { messages: 2 } });
      const chats = createChatStore({ sessions, userId: "alice" });
      expect(await chats.loadChat(session?.id as string)).toHaveLength(2);
      await sessions.store.close();
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
