/**
 * Cancelling a turn from anywhere: a `turn.cancel` custom event appended by another process or
 * server instance (no AgentSession) stops the turn that holds the lock, and only that turn.
 * And the agent side of a whole frontdesk.config.json: the server's keys are skipped.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AgentSession,
  agentConfigFrom,
  findOrphans,
  loadConfig,
  parseConfig,
  readAgentRecord,
  requestTurnCancel,
  TURN_CANCEL_EVENT,
} from "../../src/agent/index.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { eventsOf, type Harness, openHarness, Recorder, ScriptedModel, STORES, textParts, until } from "./helpers.ts";

const askCalculator = parseConfig({
  agents: { assistant: { model: "offline", tools: ["calculator"], approval: { calculator: "ask" } } },
});

describe.each(STORES)("turn.cancel events ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const startPaused = async () => {
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config: askCalculator, clock: h.clock });
    const recorder = new Recorder();
    const running = agent.runTurn("calculate 6*7", { onEvent: recorder.listener });
    await until(() => recorder.persisted().some((event) => event.type === "approval_request"), "approval request");
    return { agent, running, recorder };
  };

  it("a cancel appended through another manager stops the running turn; the partial reply is kept once", async () => {
    const { running } = await startPaused();
    const elsewhere = h.root.forUser("alice");
    const request = await requestTurnCancel(elsewhere, "s1", { reason: "user pressed stop" });
    expect(request.event).toMatchObject({
      type: "custom",
      name: TURN_CANCEL_EVENT,
      data: { reason: "user pressed stop" },
    });
    const result = await running;
    expect(result.finish).toBe("cancelled");
    expect(request.turnId).toBe(result.turnId);
    const events = await eventsOf(h.sessions);
    expect(events.filter((event) => event.type === "tool_result")).toEqual([
      expect.objectContaining({ status: "cancelled" }),
    ]);
    expect(events.filter((event) => event.type === "message" && event.role === "assistant")).toEqual([
      expect.objectContaining({ finish: "cancelled", content: "Let me calculate that." }),
    ]);
    expect(await findOrphans(h.sessions, "s1", undefined)).toEqual([]);
    expect((await readAgentRecord(h.sessions, "s1"))?.turn).toBeUndefined();
  });

  it("ignores a cancel aimed at another turn and one written before the turn started", async () => {
    await h.sessions.appendEvents("s1", [{ type: "custom", name: TURN_CANCEL_EVENT }]);
    const { agent, running } = await startPaused();
    await h.sessions.appendEvents("s1", [{ type: "custom", name: TURN_CANCEL_EVENT, data: { turnId: "turn_other" } }]);
    const [pending] = await agent.pendingApprovals();
    await agent.approve(pending?.approvalId as string);
    const result = await running;
    expect(result.finish).toBe("complete");
    expect(result.text).toBe("6*7 = 42");
  });

  it("a cancel written the moment the lock is taken, before the reply streams, stops the turn", async () => {
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config: askCalculator, clock: h.clock });
    const elsewhere = h.root.forUser("alice");
    let requested: Promise<unknown> | undefined;
    const result = await agent.runTurn("tell me about yourself", {
      onEvent: (event) => {
        if (event.type === "event" && event.event.type === "status" && event.event.status === "running") {
          requested = requestTurnCancel(elsewhere, "s1", { reason: "changed my mind" });
        }
      },
    });
    await requested;
    expect(result.finish).toBe("cancelled");
    const events = await eventsOf(h.sessions);
    expect(events.at(-1)).toMatchObject({ type: "status", status: "idle", reason: "cancelled" });
    expect(events.filter((event) => event.type === "custom" && event.name === TURN_CANCEL_EVENT)).toHaveLength(1);
  });

  it("a cancel written while the turn writes its own events (a tool call and its result) is not skipped", async () => {
    const config = parseConfig({ agents: { assistant: { model: "offline", tools: ["calculator"] } } });
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock });
    const elsewhere = h.root.forUser("alice");
    let requested: Promise<unknown> | undefined;
    const result = await agent.runTurn("compute 6*7", {
      onEvent: (event) => {
        if (event.type === "event" && event.event.type === "tool_call") {
          requested = requestTurnCancel(elsewhere, "s1");
        }
      },
    });
    await requested;
    expect(result.finish).toBe("cancelled");
    expect((await readAgentRecord(h.sessions, "s1"))?.turn).toBeUndefined();
  });

  it("refuses with conflict when no turn is running, and not_found for another user's session", async () => {
    await expect(requestTurnCancel(h.sessions, "s1")).rejects.toMatchObject({ code: "conflict" });
    await expect(requestTurnCancel(h.root.forUser("bob"), "s1")).rejects.toMatchObject({ code: "not_found" });
    expect(await eventsOf(h.sessions)).toEqual([]);
  });
});

describe("turn.cancel on a store whose subscription is a round trip", () => {
  it("a cancel committed before the turn's hint subscription was up is still read, once it is", async () => {
    const base = createMemoryStore();
    let subscribed!: () => void;
    let letSubscribe!: () => void;
    const subscribing = new Promise<void>((resolve) => {
      letSubscribe = resolve;
    });
    const up = new Promise<void>((resolve) => {
      subscribed = resolve;
    });
    // As a networked store: not blocking, and its subscribe resolves only when the test lets it.
    const store = new Proxy(base, {
      get(target, name, receiver) {
        if (name === "capabilities") return { ...target.capabilities, blocking: false };
        if (name === "subscribe") {
          return async (...args: Parameters<SessionStore["subscribe"]>) => {
            await subscribing;
            const unsubscribe = await target.subscribe(...args);
            subscribed();
            return unsubscribe;
          };
        }
        const value = Reflect.get(target, name, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as SessionStore;
    try {
      const root = new SessionManager<object>(() => ({}), store, "default", { defaultTtlMs: null });
      const sessions = root.forUser("alice");
      await sessions.create({ sessionId: "s1" });
      // A long reply that writes nothing while it streams: no later commit of the turn's own can
      // bring the lost hint's cancel to light.
      const model = new ScriptedModel(() => textParts("word ".repeat(200).trim()));
      const config = parseConfig({ agents: { assistant: { model: "offline", tools: [] } } });
      const agent = new AgentSession({ sessions, sessionId: "s1", config, model });
      const running = agent.runTurn("hello", {
        onEvent: (event) => {
          if (event.type === "event" && event.event.type === "status" && event.event.status === "running") {
            // The lock is taken and the hints are not flowing yet: the cancel's hint is lost.
            void requestTurnCancel(root.forUser("alice"), "s1").then(() => letSubscribe());
          }
        },
      });
      await up;
      const result = await running;
      expect(result.finish).toBe("cancelled");
    } finally {
      await base.close();
    }
  });
});

describe("agentConfigFrom: the agent part of a whole frontdesk.config.json", () => {
  const whole = {
    store: "sqlite:./x.db",
    host: "127.0.0.1",
    port: 7420,
    namespace: "prod",
    limits: { maxBodyBytes: 1000 },
    defaultTtlSeconds: 60,
    logLevel: "info",
    defaultAgent: "helper",
    agents: { helper: { model: "offline", tools: ["calculator"] } },
  };

  it("skips the server's keys and validates the rest", () => {
    const config = agentConfigFrom(whole, {});
    expect(config.defaultAgent).toBe("helper");
    expect(Object.keys(config.agents).sort()).toEqual(["assistant", "helper"]);
    expect(config).not.toHaveProperty("store");
  });

  it("still refuses unknown keys and bad agent sections, naming the path", () => {
    expect(() => agentConfigFrom({ ...whole, temprature: 1 }, {})).toThrow(/temprature/);
    expect(() => agentConfigFrom({ ...whole, agents: { helper: { model: "gpt9" } } }, {})).toThrow(
      /agents\.helper\.model: unknown model "gpt9"/,
    );
    expect(() => agentConfigFrom([], {})).toThrow(/JSON object/);
  });

  it("gives the defaults for nothing, with the environment overrides", () => {
    expect(agentConfigFrom(undefined, {}).defaultAgent).toBe("assistant");
    expect(agentConfigFrom(null, { FRONTDESK_MODEL: "openai:gpt-4o-mini" }).agents.assistant?.model).toBe("env");
  });

  it("loadConfig reads a file that also holds the server's keys", async () => {
    const dir = mkdtempSync(join(tmpdir(), "frontdesk-config-"));
    try {
      writeFileSync(join(dir, "frontdesk.config.json"), JSON.stringify(whole));
      const config = await loadConfig({ cwd: dir, env: {} });
      expect(config.defaultAgent).toBe("helper");
      expect(config.source).toBe(join(dir, "frontdesk.config.json"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
