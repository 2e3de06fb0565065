import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AgentSession,
  approvalPolicyOf,
  DEFAULT_CONFIG,
  loadConfig,
  parseConfig,
  readAgentRecord,
  resolveModel,
} from "../../src/agent/index.ts";
import { FrontdeskError } from "../../src/core/errors.ts";
import { agentStatuses, eventsOf, type Harness, openHarness, STORES } from "./helpers.ts";

const root = resolve(import.meta.dirname, "../..");

const errorOf = (fn: () => unknown): FrontdeskError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof FrontdeskError) return error;
    throw error;
  }
  throw new Error("expected an error");
};

describe("configuration", () => {
  it("ships a default that needs nothing: an assistant on the offline model with clock, calculator, recall", () => {
    expect(DEFAULT_CONFIG.defaultAgent).toBe("assistant");
    expect(DEFAULT_CONFIG.agents.assistant).toMatchObject({
      model: "offline",
      tools: ["clock", "calculator", "recall"],
    });
    expect(DEFAULT_CONFIG.models.offline?.provider).toBe("offline");
    expect(DEFAULT_CONFIG.tools.shell).toMatchObject({ enabled: false, approval: "ask" });
    expect(resolveModel(DEFAULT_CONFIG, "offline").model.specificationVersion).toBe("v3");
  });

  it("is deeply frozen", () => {
    const config = parseConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.agents.assistant?.tools)).toBe(true);
    expect(() => {
      (config.agents.assistant as unknown as { tools: string[] }).tools.push("shell");
    }).toThrow(TypeError);
  });

  it("names the JSON path of what is wrong", () => {
    const unknownModel = errorOf(() => parseConfig({ agents: { helper: { model: "gpt9", tools: [] } } }));
    expect(unknownModel.code).toBe("invalid_request");
    expect(unknownModel.message).toContain('agents.helper.model: unknown model "gpt9"');

    const badTool = errorOf(() =>
      parseConfig({ agents: { helper: { model: "offline", tools: ["clock", "teleport"] } } }),
    );
    expect(badTool.message).toContain('agents.helper.tools[1]: unknown tool "teleport"');

    const typo = errorOf(() =>
      parseConfig({ models: { m: { provider: "openai", model: "x", contextWindow: "big" } } }),
    );
    expect(typo.message).toContain("models.m.contextWindow");

    const unknownKey = errorOf(() => parseConfig({ agents: { a: { model: "offline", tools: [], temprature: 1 } } }));
    expect(unknownKey.message).toMatch(/agents\.a: .*temprature/);

    const provider = errorOf(() =>
      parseConfig({ models: { m: { provider: "openia", model: "x", contextWindow: 1000 } } }),
    );
    expect(provider.message).toContain("models.m.provider");

    const shell = errorOf(() => parseConfig({ agents: { a: { model: "offline", tools: ["shell"] } } }));
    expect(shell.message).toContain("agents.a.tools[0]: the shell tool is disabled");

    const compat = errorOf(() =>
      parseConfig({ models: { local: { provider: "openai-compatible", model: "llama3", contextWindow: 4096 } } }),
    );
    expect(compat.message).toContain("models.local.baseUrl: required");

    const step = errorOf(() =>
      parseConfig({
        agents: {
          a: {
            model: "offline",
            tools: ["clock"],
            steps: [{ name: "one", tools: ["calculator"], next: { to: "two", afterTool: "clock" } }],
          },
        },
      }),
    );
    expect(step.message).toContain('agents.a.steps[0].tools[0]: "calculator" is not one of this agent\'s tools');
    expect(step.message).toContain('agents.a.steps[0].next.to: unknown step "two"');
    expect(step.details?.issues).toHaveLength(2);

    expect(errorOf(() => parseConfig({ defaultAgent: "nobody" })).message).toContain(
      'defaultAgent: unknown agent "nobody"',
    );
    expect(errorOf(() => parseConfig([])).code).toBe("invalid_request");
  });

  it("merges a file over the defaults: built-in tool settings refine, sections add", () => {
    const config = parseConfig({
      tools: { shell: { enabled: true } },
      agents: { ops: { model: "offline", tools: ["shell"] } },
    });
    expect(config.tools.shell).toMatchObject({ enabled: true, approval: "ask", timeoutMs: 30_000 });
    expect(Object.keys(config.agents).sort()).toEqual(["assistant", "ops"]);
    expect(approvalPolicyOf(config, config.agents.ops as never, "shell")).toBe("ask");
  });

  it("applies environment overrides for the default agent, its model and base URL", () => {
    const config = parseConfig(
      {},
      {
        env: {
          FRONTDESK_MODEL: "openai-compatible:llama3.2",
          FRONTDESK_MODEL_BASE_URL: "http://127.0.0.1:11434/v1",
          FRONTDESK_MODEL_CONTEXT_WINDOW: "16384",
        },
      },
    );
    expect(config.agents.assistant?.model).toBe("env");
    expect(config.models.env).toMatchObject({
      provider: "openai-compatible",
      model: "llama3.2",
      baseUrl: "http://127.0.0.1:11434/v1",
      contextWindow: 16384,
    });
    const named = parseConfig(
      { agents: { other: { model: "offline", tools: [] } } },
      { env: { FRONTDESK_AGENT: "other", FRONTDESK_MODEL: "offline" } },
    );
    expect(named.defaultAgent).toBe("other");
    expect(errorOf(() => parseConfig({}, { env: { FRONTDESK_AGENT: "ghost" } })).message).toContain(
      'defaultAgent: unknown agent "ghost"',
    );
  });

  it("keeps API keys out of anything that serializes, and checks them when a model is resolved", () => {
    const config = parseConfig(
      { models: { gpt: { provider: "openai", model: "gpt-4o-mini", contextWindow: 128000 } } },
      { env: { OPENAI_API_KEY: "sk-very-secret", HOME: "/root" } },
    );
    expect(JSON.stringify(config)).not.toContain("sk-very-secret");
    expect(resolveModel(config, "gpt").model.modelId).toBe("gpt-4o-mini");
    const missing = errorOf(() => resolveModel(config, "gpt", { env: {} }));
    expect(missing.code).toBe("invalid_request");
    expect(missing.message).toBe(
      'models.gpt: the openai model "gpt-4o-mini" needs an API key in $OPENAI_API_KEY, which is not set',
    );
    expect(errorOf(() => resolveModel(config, "gpt9")).message).toContain('Unknown model "gpt9"');
    const anthropic = parseConfig(
      { models: { c: { provider: "anthropic", model: "claude-x", contextWindow: 200000 } } },
      { env: {} },
    );
    expect(errorOf(() => resolveModel(anthropic, "c")).message).toContain("$ANTHROPIC_API_KEY");
  });

  describe("loadConfig", () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "frontdesk-config-"));
    });
    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it("uses the defaults when there is no frontdesk.config.json", async () => {
      const config = await loadConfig({ cwd: dir, env: {} });
      expect(config.source).toBeNull();
      expect(config.defaultAgent).toBe("assistant");
    });

    it("reads frontdesk.config.json from the working directory, or the file given", async () => {
      writeFileSync(join(dir, "frontdesk.config.json"), JSON.stringify({ prompts: { assistant: "Hi from a file." } }));
      const config = await loadConfig({ cwd: dir, env: {} });
      expect(config.source).toBe(join(dir, "frontdesk.config.json"));
      expect(config.prompts.assistant).toBe("Hi from a file.");
      writeFileSync(join(dir, "other.json"), JSON.stringify({ defaultAgent: "nobody" }));
      await expect(loadConfig({ cwd: dir, env: { FRONTDESK_CONFIG: "other.json" } })).rejects.toMatchObject({
        code: "invalid_request",
        message: expect.stringContaining("defaultAgent"),
      });
      await expect(loadConfig({ cwd: dir, file: "missing.json", env: {} })).rejects.toMatchObject({
        message: expect.stringContaining("Config file not found"),
      });
      writeFileSync(join(dir, "broken.json"), "{ nope");
      await expect(loadConfig({ cwd: dir, file: "broken.json", env: {} })).rejects.toMatchObject({
        message: expect.stringContaining("not valid JSON"),
      });
    });

    it("accepts the shipped frontdesk.config.example.json", async () => {
      const config = await loadConfig({ file: join(root, "frontdesk.config.example.json"), env: {} });
      expect(Object.keys(config.agents).sort()).toEqual(["assistant", "coder", "support", "writer"]);
      expect(config.agents.support?.steps?.map((step) => step.name)).toEqual(["identify", "resolve", "wrapup"]);
    });
  });
});

describe.each(STORES)("initialization failures ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it.each([
    [
      "an unknown model",
      { agents: { assistant: { model: "gpt9", tools: [] } } },
      {},
      'agents.assistant.model: unknown model "gpt9"',
    ],
    [
      "a missing API key",
      { models: { offline: { provider: "openai", model: "gpt-4o-mini", contextWindow: 128000 } } },
      {},
      "$OPENAI_API_KEY",
    ],
    ["an unknown agent", {}, { agent: "ghost" }, 'Unknown agent "ghost"'],
    [
      "a declared tool with no implementation",
      { tools: { lookup: { description: "x" } }, agents: { assistant: { model: "offline", tools: ["lookup"] } } },
      {},
      "tools.lookup: a declared tool needs a command",
    ],
  ])("%s puts the agent in error with the reason, losing nothing", async (_what, raw, extra, reason) => {
    await h.sessions.addMessage("s1", { role: "user", content: "written before" });
    const agent = new AgentSession({
      sessions: h.sessions,
      sessionId: "s1",
      config: raw,
      env: {},
      clock: h.clock,
      ...extra,
    });
    const error = await agent.initialize().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FrontdeskError);
    expect((error as FrontdeskError).code).toBe("invalid_request");
    expect((error as FrontdeskError).message).toContain(reason);
    expect(agent.phase).toBe("error");

    const events = await eventsOf(h.sessions);
    expect(events[0]).toMatchObject({ type: "message", content: "written before" });
    expect(agentStatuses(events)).toEqual(["initializing", "error"]);
    expect((events.at(-1) as { reason?: string }).reason).toContain(reason);
    expect(await readAgentRecord(h.sessions, "s1")).toMatchObject({
      phase: "error",
      error: expect.stringContaining(reason),
    });
    await expect(agent.runTurn("hello")).rejects.toMatchObject({ code: "invalid_request" });
    expect((await eventsOf(h.sessions)).length).toBe(events.length);

    // A good agent can take the session over afterwards.
    const fixed = new AgentSession({ sessions: h.sessions, sessionId: "s1", clock: h.clock });
    expect((await fixed.runTurn("compute 1+1")).text).toBe("1+1 = 2");
    expect(agentStatuses(await eventsOf(h.sessions)).slice(2)).toEqual(["initializing", "ready", "running", "idle"]);
  });

  it("a missing session is not_found and writes nothing", async () => {
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "nope", clock: h.clock });
    await expect(agent.initialize()).rejects.toMatchObject({ code: "not_found" });
    // Another user's session is just as absent.
    const bob = new AgentSession({ sessions: h.root.forUser("bob"), sessionId: "s1", clock: h.clock });
    await expect(bob.initialize()).rejects.toMatchObject({ code: "not_found" });
    expect(await eventsOf(h.sessions)).toEqual([]);
  });
});
