/**
 * The conversation workload on plain stores: Frontdesk's `SessionManager` beside the
 * AgentDock-style "rewrite the whole session value" design, on the same backends.
 */
import type { Workload } from "../harness.ts";
import type { Check, ReportedWorkload } from "../report.ts";
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

/** Ratios of the AgentDock-style rows against Frontdesk on the same backend and durability. */
export function conversationChecks(reported: Omit<ReportedWorkload, "checks">): Check[] {
  const checks: Check[] = [];
  const sizes = [...new Set(reported.result.cells.map((c) => c.size))];
  const largest = Math.max(...sizes);
  const pairs: [string, string][] = [
    ["AgentDock-style SQLite", "Frontdesk SQLite (normal)"],
    ["AgentDock-style Redis", "Frontdesk Redis"],
  ];
  for (const [peer, frontdesk] of pairs) {
    const a = reported.result.cells.find((c) => c.contender === peer && c.metric === "append" && c.size === largest);
    const b = reported.result.cells.find(
      (c) => c.contender === frontdesk && c.metric === "append" && c.size === largest,
    );
    if (!a || !b) continue;
    const ratio = a.medianUs / b.medianUs;
    checks.push({
      goal: `${frontdesk} append at ${largest.toLocaleString("en")} messages faster than ${peer} (same durability)`,
      met: ratio > 1,
      value: `${ratio.toFixed(1)}× faster`,
    });
  }
  return checks;
}
