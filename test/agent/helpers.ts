import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3StreamPart,
  LanguageModelV3StreamResult,
} from "@ai-sdk/provider";
import type { AgentStreamEvent } from "../../src/agent/index.ts";
import { FakeClock } from "../../src/core/clock.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";

export interface StoreCase {
  name: string;
  open(): { store: SessionStore; cleanup(): Promise<void> };
}

/** Every agent case runs on real storage: the memory store and a SQLite file. */
export const STORES: StoreCase[] = [
  {
    name: "memory",
    open: () => {
      const store = createMemoryStore();
      return { store, cleanup: () => store.close() };
    },
  },
  {
    name: "sqlite",
    open: () => {
      const dir = mkdtempSync(join(tmpdir(), "frontdesk-agent-"));
      const store = createSqliteStore({ path: join(dir, "agent.db") });
      return {
        store,
        cleanup: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

export interface Harness {
  store: SessionStore;
  clock: FakeClock;
  /** Bound to alice. */
  sessions: SessionManager<object>;
  root: SessionManager<object>;
  cleanup(): Promise<void>;
}

export async function openHarness(storeCase: StoreCase, sessionId = "s1"): Promise<Harness> {
  const { store, cleanup } = storeCase.open();
  const clock = new FakeClock();
  const root = new SessionManager<object>(() => ({}), store, "default", { clock, defaultTtlMs: null });
  const sessions = root.forUser("alice");
  await sessions.create({ sessionId });
  return { store, clock, sessions, root, cleanup };
}

/** Collects live events; `persisted()` gives the events written, by type. */
export class Recorder {
  readonly all: AgentStreamEvent[] = [];
  readonly listener = (event: AgentStreamEvent): void => {
    this.all.push(event);
  };
  deltas(): string[] {
    return this.all.filter((event) => event.type === "delta").map((event) => (event as { text: string }).text);
  }
  persisted(): SessionEvent[] {
    return this.all.filter((event) => event.type === "event").map((event) => (event as { event: SessionEvent }).event);
  }
}

export const eventsOf = async (sessions: SessionManager<object>, id = "s1"): Promise<readonly SessionEvent[]> =>
  sessions.readEvents(id);

export const agentStatuses = (events: readonly SessionEvent[]): string[] =>
  events
    .filter((event) => event.type === "status" && event.scope === "agent")
    .map((event) => (event as { status: string }).status);

/** Waits (on the event loop, not on time) until `check` holds. */
export async function until(check: () => boolean | Promise<boolean>, what = "condition"): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if (await check()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

type Script = (options: LanguageModelV3CallOptions, call: number) => LanguageModelV3StreamPart[];

const usage = (input: number, output: number) => ({
  inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: output, text: output, reasoning: 0 },
});

export const textParts = (text: string, finish: "stop" | "tool-calls" = "stop"): LanguageModelV3StreamPart[] => [
  { type: "stream-start", warnings: [] },
  { type: "text-start", id: "t" },
  ...text.split(/(?<= )/).map((delta) => ({ type: "text-delta" as const, id: "t", delta })),
  { type: "text-end", id: "t" },
  { type: "finish", usage: usage(10, 5), finishReason: { unified: finish, raw: finish } },
];

export const toolCallParts = (toolCallId: string, toolName: string, input: unknown): LanguageModelV3StreamPart[] => [
  { type: "stream-start", warnings: [] },
  { type: "tool-call", toolCallId, toolName, input: JSON.stringify(input) },
  { type: "finish", usage: usage(10, 5), finishReason: { unified: "tool-calls", raw: "tool_calls" } },
];

/**
 * The `status` event by which another process's turn took the agent's lock at `at` (as a turn that
 * then died, or still runs elsewhere, leaves it): the running status with the agent record.
 */
export const lockTakenBy = (turnId: string, owner: string, at: number, record: Record<string, unknown> = {}) => ({
  type: "status",
  scope: "agent",
  status: "running",
  previous: "idle",
  stateDelta: {
    agent: { name: "assistant", phase: "running", model: "offline", ...record, updatedAt: at },
    "process:agent": { turn: { id: turnId, startedAt: at, heartbeatAt: at, startSeq: 1, owner } },
  },
});

/** A model that streams what a script says, recording what it was offered. */
export class ScriptedModel implements LanguageModelV3 {
  readonly specificationVersion = "v3" as const;
  readonly provider = "test.scripted";
  readonly modelId = "scripted";
  readonly supportedUrls = {};
  readonly calls: LanguageModelV3CallOptions[] = [];
  constructor(private readonly script: Script) {}

  async doGenerate(): Promise<never> {
    throw new Error("ScriptedModel only streams");
  }

  async doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    this.calls.push(options);
    const parts = this.script(options, this.calls.length - 1);
    let i = 0;
    return {
      stream: new ReadableStream({
        async pull(controller) {
          await new Promise((resolve) => setImmediate(resolve));
          if (options.abortSignal?.aborted) return controller.error(options.abortSignal.reason);
          const part = parts[i++];
          if (part) controller.enqueue(part);
          else controller.close();
        },
      }),
    };
  }

  offeredTools(call: number): string[] {
    return (this.calls[call]?.tools ?? []).map((tool) => tool.name);
  }
}
