/**
 * The conversation workload on plain stores: Frontdesk's `SessionManager` beside the
 * AgentDock-style "rewrite the whole session value" design, on the same backends.
 */
import type { Workload } from "../harness.ts";
import { agentDockRedis, agentDockSqlite } from "./agentdock.ts";
import { frontdeskBackends, frontdeskContender } from "./frontdesk.ts";

export const CONVERSATION_LABELS: Record<string, string> = {
  append: "append one message",
  last50: "read the last 50 messages",
  history: "read the whole history",
  list: "list a user's sessions (first page of 50)",
};

export const CONVERSATION_REFERENCE = "Frontdesk SQLite (full)";

export function conversationWorkload(dir: string, options: { peers?: boolean } = {}): Workload {
  const contenders = frontdeskBackends(dir).map(frontdeskContender);
  if (options.peers !== false) {
    contenders.push(agentDockSqlite(dir));
    const redis = agentDockRedis();
    if (redis) contenders.push(redis);
  }
  return {
    id: "conversation",
    title: "Conversation stores",
    method:
      "One user owns 20 short sessions plus one conversation per history length, pre-filled in bulk. `append` adds " +
      "one message (Frontdesk: `addMessage`, one atomic commit; AgentDock-style: read the session's JSON value, push, " +
      "write it back whole), `last50` reads the 50 newest messages, `history` reads them all, `list` lists the " +
      "user's sessions. Stores run in alternating rounds; each cell is the median round's cost per call.",
    operations: [{ name: "append", addsMessages: 1 }, { name: "last50" }, { name: "history" }, { name: "list" }],
    contenders,
    bytesAt: [1000],
  };
}
