import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ModelMessage, streamText, type ToolSet } from "ai";
import { AgentSession } from "../src/agent/agent-session.ts";
import { agentConfigOf, parseConfig, systemPromptOf } from "../src/agent/config.ts";
import { OfflineLanguageModel } from "../src/agent/models/offline.ts";
import { buildAgentTools } from "../src/agent/tools/index.ts";
import { SessionManager } from "../src/core/session-manager.ts";
import { openStore } from "../src/stores/registry.ts";
import { interleaved, type Measurement, pairedDifferenceUs, type Section } from "./measure.ts";

const HISTORY = 1000;
const TURN = "hello there, how are you today?";

/**
 * What Frontdesk adds to a turn: an `AgentSession.runTurn` with the offline model on a session
 * holding 1,000 messages, against the same model streaming a reply to the same conversation, with
 * the same system prompt and tool definitions and nothing around it (no history load, no
 * persistence, no lock, no stats, no tool wrapping).
 */
export async function benchAgent(): Promise<Section[]> {
  const dir = mkdtempSync(join(tmpdir(), "frontdesk-agent-bench-"));
  const rows: Measurement[] = [];
  const checks: NonNullable<Section["checks"]> = [];
  try {
    const conversation: ModelMessage[] = Array.from({ length: HISTORY }, (_, i) =>
      i % 2 === 0
        ? { role: "user" as const, content: `question ${i}: what about the weather in city ${i}?` }
        : { role: "assistant" as const, content: `answer ${i}: it is sunny in city ${i - 1}, about 21 degrees.` },
    );
    const model = new OfflineLanguageModel();
    // The whole history fits the window and nothing is summarized, so the model sees the same
    // conversation in both measurements and the difference is Frontdesk's own work.
    const config = parseConfig({
      models: { offline: { provider: "offline", model: "frontdesk-offline-1", contextWindow: 2_000_000 } },
      summarization: { enabled: false },
    });
    // The bare call sends the agent's own system prompt and tool definitions: reading them is the
    // model's work, whoever calls it. What it lacks is everything Frontdesk wraps around the call.
    const agentConfig = agentConfigOf(config);
    const system = systemPromptOf(config, agentConfig);
    const tools: ToolSet = {};
    for (const [name, { description, inputSchema }] of buildAgentTools(config, agentConfig)) {
      tools[name] = {
        description,
        inputSchema,
        execute: () => {
          throw new Error(`The benchmark's message asks for no tool, yet the model called ${name}`);
        },
      };
    }
    for (const [label, url] of [
      ["memory", "memory:"],
      ["sqlite (full)", `sqlite:${join(dir, "full.db")}`],
      ["sqlite (normal)", `sqlite:${join(dir, "normal.db")}?durability=normal`],
    ] as const) {
      const store = await openStore(url);
      // Each turn adds a user and an assistant message; the bare call's conversation grows the same way.
      const grown: ModelMessage[] = [...conversation];
      const bare = async () => {
        grown.push({ role: "user", content: TURN });
        const result = streamText({ model, system, tools, messages: grown });
        let reply = "";
        for await (const text of result.textStream) reply += text;
        await result.usage;
        grown.push({ role: "assistant", content: reply });
      };

      try {
        const sessions = new SessionManager(() => ({}), store, "bench-agent", { defaultTtlMs: null }).forUser("bench");
        const { id } = await sessions.create();
        // Built as a conversation builds it, a question and its answer per commit, so the store
        // (its SQLite write-ahead log included) is in the state a session this long leaves it in,
        // not that of a file that has only just been created.
        for (let i = 0; i < HISTORY; i += 2) {
          await sessions.appendEvents(
            id,
            conversation.slice(i, i + 2).map((m) => ({ type: "message", role: m.role, content: m.content as string })),
          );
        }
        const agent = new AgentSession({ sessions, sessionId: id, config });
        await agent.initialize();
        const results = await interleaved(
          {
            turn: async () => {
              const outcome = await agent.runTurn(TURN);
              if (outcome.finish !== "complete") throw new Error(`turn ended ${outcome.finish}`);
            },
            bare,
          },
          { rounds: 15, perRound: 8 },
        );
        await agent.close();
        const turn = results.turn as (typeof results)[string];
        const base = results.bare as (typeof results)[string];
        const overheadMs = pairedDifferenceUs(turn, base) / 1000;
        rows.push({ name: `${label}: turn through AgentSession`, opsPerSec: turn.opsPerSec, meanUs: turn.meanUs });
        rows.push({
          name: `${label}: the model alone, same conversation`,
          opsPerSec: base.opsPerSec,
          meanUs: base.meanUs,
        });
        rows.push({
          name: `${label}: Frontdesk overhead per turn`,
          meanUs: overheadMs * 1000,
          note: `${overheadMs.toFixed(2)} ms`,
        });
        checks.push({
          goal: `${label}: Frontdesk adds ≤ 2 ms to a turn at a ${HISTORY.toLocaleString("en")}-message history`,
          met: overheadMs <= 2,
          value: `${overheadMs.toFixed(2)} ms`,
        });
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    {
      title: "Agent turn overhead",
      method:
        `A turn of the built-in offline model on a session holding ${HISTORY.toLocaleString("en")} messages, appended ` +
        `as ${(HISTORY / 2).toLocaleString("en")} commits of a question and its answer (a context ` +
        "window large enough for all of them, summarization off), through " +
        "`AgentSession.runTurn` (token-budgeted history window, turn lock, user and assistant messages and status " +
        "events persisted, stats), against the same model streaming its reply to the same conversation, with the " +
        "agent's system prompt and tool definitions, and nothing around it. Both run in 15 alternating rounds of 8 " +
        "turns. Overhead = the median over rounds of (turn round − the bare round right after it), so drift between " +
        "rounds cancels within each pair; the two rows above it are each one's median round.",
      rows,
      checks,
    },
  ];
}
