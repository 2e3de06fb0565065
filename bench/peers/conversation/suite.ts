/**
 * The conversation workload on plain stores: Frontdesk's `SessionManager` beside the
 * AgentDock-style "rewrite the whole session value" design, on the same backends.
 */
import type { Workload } from "../harness.ts";
import { RAW_CONVERSATION_OPS, rawContenders, rawSqliteName } from "../raw.ts";
import type { Comparison } from "../report.ts";
import { agentDockRedis, agentDockSqlite } from "./agentdock.ts";
import { frontdeskBackends, frontdeskContender } from "./frontdesk.ts";

export const CONVERSATION_LABELS: Record<string, string> = {
  append: "append one message",
  last50: "read the last 50 messages",
  history: "read the whole history",
  list: "list a user's sessions (first page of 50)",
};

export const CONVERSATION_REFERENCE = "Frontdesk SQLite (full)";

/** Issue 21's AgentDock-style rows: at NORMAL, the durability the AgentDock-style store runs at. */
export const CONVERSATION_COMPARISONS: Comparison[] = [1000, 10_000].map((size) => ({
  label: `AgentDock-style append @${size.toLocaleString("en")} (normal)`,
  metric: "append",
  size,
  peer: "AgentDock-style SQLite",
  frontdesk: "Frontdesk SQLite (normal)",
  raw: rawSqliteName("normal"),
  goal: 0.8,
}));

export function conversationWorkload(dir: string, options: { peers?: boolean } = {}): Workload {
  const contenders = frontdeskBackends(dir).map(frontdeskContender);
  if (options.peers !== false) {
    contenders.push(agentDockSqlite(dir));
    const redis = agentDockRedis();
    if (redis) contenders.push(redis);
    contenders.push(...rawContenders(dir, RAW_CONVERSATION_OPS));
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
