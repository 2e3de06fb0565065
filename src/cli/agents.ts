/**
 * What `chat` and `run` share: the store and the user-bound session manager they act through, the
 * agent configuration (with `--model` applied), and compact one-line descriptions of what a turn
 * does.
 */
import { AgentSession } from "../agent/agent-session.ts";
import { readAgentState } from "../agent/agent-state.ts";
import { agentConfigOf, type FrontdeskConfig, loadConfig } from "../agent/config.ts";
import type { Json, JsonObject, SessionEvent } from "../core/model.ts";
import { SessionManager } from "../core/session-manager.ts";
import type { SessionStore } from "../stores/types.ts";
import { loadCliConfig } from "./config.ts";
import type { CliIo } from "./io.ts";
import { truncate } from "./table.ts";
import { DEFAULT_NAMESPACE, envValue, openCommandStore } from "./targets/index.ts";

/** Whose sessions `chat` and `run` use when neither `--user` nor `$FRONTDESK_USER` names one. */
export const DEFAULT_USER = "local";

/** The options `chat` and `run` both take. */
export interface AgentCommandOptions {
  agent?: string;
  session?: string;
  model?: string;
  store?: string;
  user?: string;
  config?: string;
}

/** `--user`, else `$FRONTDESK_USER`, else "local". */
export const userFrom = (options: { user?: string }, io: CliIo): string =>
  options.user ?? envValue(io, "FRONTDESK_USER") ?? DEFAULT_USER;

/**
 * A store opened in this process with a manager bound to one user, and the agent configuration.
 * Sessions created here never expire (a local conversation is resumed days later); give them a
 * TTL through the HTTP API or `serve` when that matters.
 */
export class AgentWorkspace {
  private readonly configs = new Map<string, FrontdeskConfig>();

  private constructor(
    readonly store: SessionStore,
    /** Bound to {@link userId}: every read and write of `chat` and `run` goes through it. */
    readonly sessions: SessionManager,
    readonly userId: string,
    /** The config as loaded, without `--model` (its agents, colours and default agent). */
    readonly config: FrontdeskConfig,
    private readonly options: AgentCommandOptions,
    private readonly io: CliIo,
  ) {}

  /**
   * Loads and validates the config first (`invalid_request` naming the path, before anything is
   * opened), then opens the store and checks it answers.
   */
  static async open(options: AgentCommandOptions, io: CliIo): Promise<AgentWorkspace> {
    const config = await loadConfig({ file: options.config, env: io.env });
    const userId = userFrom(options, io);
    // The server keys of the same file (`store`, `namespace`), read as `serve` and `sessions` read them.
    const settings = await loadCliConfig(options, io);
    const store = await openCommandStore(options, io, settings);
    try {
      const namespace = settings.settings.namespace ?? DEFAULT_NAMESPACE;
      const sessions = new SessionManager(() => ({}), store, namespace, { defaultTtlMs: null, userId });
      await sessions.listSessions({ limit: 1 });
      const workspace = new AgentWorkspace(store, sessions, userId, config, options, io);
      if (options.model !== undefined) {
        // A bad --model is an error now rather than at the first turn.
        await workspace.configFor(options.agent ?? config.defaultAgent);
      }
      return workspace;
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error;
    }
  }

  /** Throws `invalid_request` naming the configured agents when `name` is not one of them. */
  assertAgent(name: string): void {
    agentConfigOf(this.config, name);
  }

  /**
   * The config an agent runs with: the loaded one, or with `--model` given, the same file loaded
   * again with that model for this agent (`FRONTDESK_MODEL` semantics: a key of `models`, or
   * `provider:modelId`).
   */
  async configFor(agent: string): Promise<FrontdeskConfig> {
    this.assertAgent(agent);
    if (this.options.model === undefined) return this.config;
    let config = this.configs.get(agent);
    if (!config) {
      config = await loadConfig({
        file: this.options.config,
        env: { ...this.io.env, FRONTDESK_AGENT: agent, FRONTDESK_MODEL: this.options.model },
      });
      this.configs.set(agent, config);
    }
    return config;
  }

  /** The agent a session was last run with, when it is still configured. */
  async lastAgentOf(sessionId: string): Promise<string | undefined> {
    const session = await this.sessions.get(sessionId);
    const name = readAgentState(session.state as JsonObject)?.name;
    return name !== undefined && Object.hasOwn(this.config.agents, name) ? name : undefined;
  }

  /** An AgentSession of `agent` on `sessionId`, not yet initialized. */
  async agentSession(
    sessionId: string,
    agent: string,
    onEvent?: ConstructorParameters<typeof AgentSession>[0]["onEvent"],
  ): Promise<AgentSession> {
    return new AgentSession({
      sessions: this.sessions,
      sessionId,
      config: await this.configFor(agent),
      agent,
      env: this.io.env,
      ...(onEvent ? { onEvent } : {}),
    });
  }

  /** The configured colour of an agent, if any. */
  colorOf(agent: string): string | undefined {
    return Object.hasOwn(this.config.agents, agent) ? this.config.agents[agent]?.color : undefined;
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

/** JSON on one line, shortened to `max` characters. */
export const compactJson = (value: Json | undefined, max = 80): string =>
  value === undefined ? "" : truncate(JSON.stringify(value), max);

/** The text of a message's content: the string, or its text parts joined. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter((part: { type?: unknown; text?: unknown }) => part?.type === "text" && typeof part.text === "string")
    .map((part: { text: string }) => part.text)
    .join("");
}

/** The tool calls of an assistant message (AI SDK `tool-call` parts). */
export function calledTools(content: unknown): { tool: string; input: Json | undefined }[] {
  if (!Array.isArray(content)) return [];
  return content
    .filter((part: { type?: unknown }) => part?.type === "tool-call")
    .map((part: { toolName?: unknown; input?: Json }) => ({ tool: String(part.toolName), input: part.input }));
}

/** `calculator {"expression":"2+3*4"}` */
export const describeCall = (tool: string, input: Json | undefined, max = 80): string =>
  input === undefined ? tool : `${tool} ${compactJson(input, max)}`;

type ToolResultEvent = Extract<SessionEvent, { type: "tool_result" }>;

/** `14 (2 ms)`, `failed: …`, `denied: …`, `cancelled`. */
export function describeResult(event: ToolResultEvent, max = 100): { ok: boolean; text: string } {
  const took = event.durationMs === undefined ? "" : ` (${Math.round(event.durationMs)} ms)`;
  switch (event.status) {
    case "success":
      return { ok: true, text: `${compactJson(event.output ?? null, max)}${took}` };
    case "denied":
      return { ok: false, text: `denied${event.error?.message ? `: ${truncate(event.error.message, max)}` : ""}` };
    case "cancelled":
      return { ok: false, text: event.error?.code === "interrupted" ? "interrupted" : "cancelled" };
    default:
      return {
        ok: false,
        text: `failed${event.error?.message ? `: ${truncate(event.error.message, max)}` : ""}${took}`,
      };
  }
}
