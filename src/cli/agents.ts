/**
 * What `chat` and `run` share: the store and the user-bound session manager they act through, the
 * agent configuration (with `--model` applied), and compact one-line descriptions of what a turn
 * does.
 */
import { AgentSession, type RunTurnOptions } from "../agent/agent-session.ts";
import { readAgentState } from "../agent/agent-state.ts";
import type { PendingApproval } from "../agent/approvals.ts";
import { agentConfigOf, type FrontdeskConfig, loadConfig } from "../agent/config.ts";
import type { AgentStreamEvent, TurnResult } from "../agent/types.ts";
import { textOfContent } from "../core/message-text.ts";
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
  server?: string;
  key?: string;
}

/** A turn started in a session: what following it needs. */
export interface StartedTurn {
  readonly turnId: string;
  /** Seq of the turn's user message. */
  readonly startSeq: number;
}

/** How a turn is run or followed. */
export interface FollowOptions extends RunTurnOptions {
  /**
   * Aborting it stops following a server's turn and leaves it running there, for another client
   * to attach to (`runTurn`/`follow` then reject). A turn run in this process ignores it.
   */
  detach?: AbortSignal;
}

/** How `chat` and `run` run turns of one agent on one session, whether in this process or on a server. */
export interface AgentRunner {
  initialize(): Promise<void>;
  close(): Promise<void>;
  /**
   * Runs a turn to its end; aborting `signal` cancels it (its partial reply is kept). `onStarted`
   * is called once the turn holds the session, with the agent running it when it was not named.
   */
  runTurn(
    text: string,
    options?: FollowOptions & { onStarted?: (turn: StartedTurn & { agent?: string }) => void },
  ): Promise<TurnResult>;
  /** Follows a turn already running (started elsewhere) to its end, from its first event. Servers only. */
  follow?(turn: StartedTurn, options?: FollowOptions): Promise<TurnResult>;
  approve(approvalId: string): Promise<unknown>;
  deny(approvalId: string, reason?: string): Promise<unknown>;
  pendingApprovals(): Promise<readonly PendingApproval[]>;
}

/** What `chat` and `run` do with sessions: the methods `SessionManager` and `FrontdeskClient` share. */
export type AgentSessions = Pick<
  SessionManager,
  "get" | "create" | "patch" | "delete" | "listSessions" | "fork" | "exportSession" | "readEvents"
>;

/**
 * Where `chat` and `run` act: a store opened in this process with the agents of the config
 * ({@link AgentWorkspace}), or a running server whose agents run the turns (`--server`, see
 * cli/remote-agent.ts). Both show and answer the same.
 */
export interface AgentBackend {
  readonly kind: "store" | "server";
  readonly sessions: AgentSessions;
  /** The local config: its agents and colours (a server's agents are the server's). */
  readonly config: FrontdeskConfig;
  /** The agent a new conversation runs; undefined when the server decides (its defaultAgent). */
  readonly defaultAgent: string | undefined;
  /** Throws `invalid_request` for an agent that is not configured (a server checks at the turn). */
  assertAgent(name: string): void;
  /** Checks the agent (and `--model`) can run, before anything is written. */
  prepare(agent: string | undefined): Promise<void>;
  /** The agent a session was last run with, when it can run it still. */
  lastAgentOf(sessionId: string): Promise<string | undefined>;
  /** The agents to list for `/agent`; undefined when only the server knows them. */
  listedAgents(): readonly string[] | undefined;
  agentSession(
    sessionId: string,
    agent: string | undefined,
    onEvent?: (event: AgentStreamEvent) => void,
  ): Promise<AgentRunner>;
  colorOf(agent: string | undefined): string | undefined;
  /** The turn running in the session, when this backend can follow it (a server). */
  runningTurn(sessionId: string): Promise<StartedTurn | undefined>;
  close(): Promise<void>;
}

/** `--user`, else `$FRONTDESK_USER`, else "local". */
export const userFrom = (options: { user?: string }, io: CliIo): string =>
  options.user ?? envValue(io, "FRONTDESK_USER") ?? DEFAULT_USER;

/**
 * A store opened in this process with a manager bound to one user, and the agent configuration.
 * Sessions created here never expire (a local conversation is resumed days later); give them a
 * TTL through the HTTP API or `serve` when that matters.
 */
export class AgentWorkspace implements AgentBackend {
  readonly kind = "store";
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

  get defaultAgent(): string {
    return this.config.defaultAgent;
  }

  async prepare(agent: string | undefined): Promise<void> {
    await this.configFor(agent ?? this.config.defaultAgent);
  }

  listedAgents(): readonly string[] {
    return Object.keys(this.config.agents);
  }

  /** A turn left running by another process is not followed here: its turn lock says so at the next turn. */
  async runningTurn(): Promise<undefined> {
    return undefined;
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
    agent: string | undefined,
    onEvent?: ConstructorParameters<typeof AgentSession>[0]["onEvent"],
  ): Promise<AgentSession> {
    const name = agent ?? this.config.defaultAgent;
    return new AgentSession({
      sessions: this.sessions,
      sessionId,
      config: await this.configFor(name),
      agent: name,
      env: this.io.env,
      ...(onEvent ? { onEvent } : {}),
    });
  }

  /** The configured colour of an agent, if any. */
  colorOf(agent: string | undefined): string | undefined {
    return agent !== undefined && Object.hasOwn(this.config.agents, agent)
      ? this.config.agents[agent]?.color
      : undefined;
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

/** JSON on one line, shortened to `max` characters. */
export const compactJson = (value: Json | undefined, max = 80): string =>
  value === undefined ? "" : truncate(JSON.stringify(value), max);

/** The text of a message's content: the string, or its text parts joined. */
export const contentText = textOfContent;

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
