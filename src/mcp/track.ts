/**
 * Session tracking for any MCP server: every tool call is recorded in a Frontdesk session as one
 * linked invocation (a `tool_call` and a `tool_result` event, written in one commit).
 *
 * The session comes from the call's `session_id` argument (taken out before the tool sees it),
 * else from the MCP transport's session id; a call with neither runs untracked. A session that
 * does not exist yet is created. Recording never changes what the client gets: a store outage is
 * logged and the call goes through, and a tool that throws is recorded and re-thrown unchanged.
 *
 * @example
 * const server = new McpServer({ name: "tools", version: "1.0.0" });
 * trackSessions(server, { sessions: new SessionManager(() => ({}), await openStore("sqlite:./t.db")) });
 * server.registerTool("word_count", { inputSchema: { text: z.string() } }, ({ text }) => ...);
 */
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { McpServer, RegisteredTool } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CallToolResult, ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { safeExtend } from "zod/mini";
import * as z3 from "zod/v3";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import { SESSION_ID_PATTERN } from "../core/ids.ts";
import type { Json } from "../core/model.ts";
import type { SessionManager, SessionRef } from "../core/session-manager.ts";

/** What a tool handler receives besides its arguments (the SDK's `RequestHandlerExtra`). */
export type ToolCallExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Where tracking reports trouble; pino loggers and `console` both fit. */
export interface McpLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

export interface TrackSessionsOptions {
  /**
   * Where calls are recorded. A manager bound to a user (`forUser`) records in that user's
   * sessions; an unbound one in sessions without an owner (or as `sessionFor` names them).
   */
  // biome-ignore lint/suspicious/noExplicitAny: any session state type will do, tracking never reads state.
  sessions: SessionManager<any>;
  /** Recording failures (store outage, bad session id…). @default console.warn on stderr */
  logger?: McpLogger;
  /**
   * Picks the session of a call. `requested` is the call's `session_id` argument, when given.
   * Return a session id or `{ id, userId }` (unbound managers), or `null`/`undefined` to leave
   * the call untracked. @default the argument, else the transport's session id (`extra.sessionId`)
   */
  sessionFor?(extra: ToolCallExtra, requested: string | undefined): SessionRef | null | undefined;
  /**
   * A call naming a session that does not exist creates it (purpose "MCP tool calls", tag "mcp").
   * `false`: such a call is not recorded (and the failure is logged). @default true
   */
  createMissing?: boolean;
  /** Name of the argument carrying the session id. @default "session_id" */
  argument?: string;
  /**
   * Inputs and outputs larger than this (bytes of JSON) are recorded as a preview with their size,
   * so a big result never makes the recording fail. @default 65_536
   */
  maxRecordedBytes?: number;
}

/** What `trackSessions` did, for logs and tests. */
export interface SessionTracking {
  /** Names of the tools recorded now (task-based tools are left alone). */
  readonly tools: () => string[];
}

export const SESSION_ARGUMENT = "session_id";
export const MCP_SESSION_PURPOSE = "MCP tool calls";
export const MCP_SESSION_TAG = "mcp";

const DESCRIPTION =
  "Frontdesk session to record this call in (created when missing). Optional: without it the MCP connection's session is used.";

const TRACKED = Symbol.for("frontdesk.mcp.tracked");

type AnyHandler = (...args: unknown[]) => unknown;
type RegisteredTools = Record<string, RegisteredTool>;

interface ToolState {
  name: string;
  rawHandler: AnyHandler;
  rawSchema: unknown;
  /** The schema the SDK validates with and lists: the tool's own plus the session argument. */
  schema: unknown;
  /** How the session argument reaches the tool: taken out ("added"), left in ("own"), or not at all. */
  mode: "added" | "own" | "none";
  /** The tool had no input schema: its handler takes only `extra`. */
  noArgs: boolean;
}

/**
 * Records every tool call of `server` (tools registered before and after this call) in a
 * Frontdesk session. Call it once per server. Adds an optional `session_id` property to each
 * tool's input schema, so clients see it in `tools/list`.
 */
export function trackSessions(server: McpServer, options: TrackSessionsOptions): SessionTracking {
  if (!options || typeof options !== "object" || !options.sessions) {
    throw new FrontdeskError("invalid_request", "trackSessions needs { sessions: SessionManager }");
  }
  const marked = server as unknown as Record<symbol, unknown>;
  if (marked[TRACKED]) throw new FrontdeskError("invalid_request", "This MCP server is already tracked");
  const registered = (server as unknown as { _registeredTools?: RegisteredTools })._registeredTools;
  if (registered === null || typeof registered !== "object" || typeof server.registerTool !== "function") {
    throw new FrontdeskError(
      "invalid_request",
      "trackSessions needs an McpServer from @modelcontextprotocol/sdk 1.x (registered tools not found)",
    );
  }
  marked[TRACKED] = true;

  const argument = options.argument ?? SESSION_ARGUMENT;
  const recorder = createRecorder(options);
  const states = new Map<RegisteredTool, ToolState>();

  const instrument = (tool: RegisteredTool, name: string): void => {
    if (states.has(tool)) return;
    const state: ToolState = {
      name,
      rawHandler: tool.handler as AnyHandler,
      rawSchema: tool.inputSchema,
      schema: undefined,
      mode: "none",
      noArgs: false,
    };
    const describe = (): void => {
      const extended = withSessionArgument(state.rawSchema, argument);
      state.schema = extended.schema;
      state.mode = extended.mode;
      state.noArgs = state.rawSchema === undefined;
      if (extended.mode === "none" && !isTaskHandler(state.rawHandler)) {
        recorder.warn(
          { tool: state.name },
          "This tool's input schema is not an object: it cannot take session_id, so its calls are recorded only in the transport's session",
        );
      }
    };
    describe();
    const wrapped = async (...args: unknown[]): Promise<unknown> =>
      callTracked(state, args, argument, options, recorder);
    // The SDK reads `handler` and `inputSchema` at every call and `update()` writes them: keeping
    // them as accessors means an updated callback or schema is tracked too.
    Object.defineProperty(tool, "handler", {
      configurable: true,
      enumerable: true,
      get: () => (isTaskHandler(state.rawHandler) ? state.rawHandler : wrapped),
      set: (handler: AnyHandler) => {
        state.rawHandler = handler;
      },
    });
    Object.defineProperty(tool, "inputSchema", {
      configurable: true,
      enumerable: true,
      get: () => (isTaskHandler(state.rawHandler) ? state.rawSchema : state.schema),
      set: (schema: unknown) => {
        state.rawSchema = schema;
        describe();
      },
    });
    // Renames go through update({ name }); remember the new name for the records.
    const update = tool.update.bind(tool);
    tool.update = ((updates: Parameters<RegisteredTool["update"]>[0]) => {
      if (typeof updates?.name === "string") state.name = updates.name;
      update(updates);
    }) as RegisteredTool["update"];
    states.set(tool, state);
  };

  for (const [name, tool] of Object.entries(registered)) instrument(tool, name);

  const registerTool = server.registerTool.bind(server);
  server.registerTool = ((name: string, config: never, cb: never) => {
    const tool = registerTool(name, config, cb);
    instrument(tool, name);
    return tool;
  }) as typeof server.registerTool;
  const legacyTool = server.tool.bind(server) as (...args: unknown[]) => RegisteredTool;
  server.tool = ((...args: unknown[]) => {
    const tool = legacyTool(...args);
    instrument(tool, String(args[0]));
    return tool;
  }) as typeof server.tool;

  // Clients that listed tools before tracking started should see the new argument.
  if (states.size > 0) server.sendToolListChanged();

  return {
    tools: () =>
      [...states.entries()]
        .filter(([tool, state]) => Object.values(registered).includes(tool) && !isTaskHandler(state.rawHandler))
        .map(([, state]) => state.name),
  };
}

async function callTracked(
  state: ToolState,
  args: unknown[],
  argument: string,
  options: TrackSessionsOptions,
  recorder: Recorder,
): Promise<unknown> {
  const handler = state.rawHandler;
  // With the extended schema the SDK always passes (args, extra).
  let input = args[0];
  const extra = args[1] as ToolCallExtra;
  let requested: string | undefined;
  if (input !== null && typeof input === "object" && !Array.isArray(input) && Object.hasOwn(input, argument)) {
    const value = (input as Record<string, unknown>)[argument];
    requested = typeof value === "string" ? value : undefined;
    if (state.mode === "added") {
      const { [argument]: _taken, ...rest } = input as Record<string, unknown>;
      input = rest;
    }
  }
  const invoke = (): unknown => (state.noArgs ? handler(extra) : handler(input, extra));

  let ref: SessionRef | null | undefined;
  try {
    ref = options.sessionFor ? options.sessionFor(extra, requested) : (requested ?? extra?.sessionId);
  } catch (error) {
    recorder.warn({ tool: state.name, error: messageOf(error) }, "sessionFor failed; the call is not recorded");
    ref = undefined;
  }
  if (ref === undefined || ref === null) return invoke();

  const recordedInput = state.noArgs ? undefined : recorder.bounded(input);
  const started = performance.now();
  let result: unknown;
  try {
    result = await invoke();
  } catch (error) {
    const durationMs = elapsed(started);
    await recorder.record(ref, {
      tool: state.name,
      input: recordedInput,
      status: "error",
      error: { message: truncate(messageOf(error), 2000), code: codeOf(error) },
      durationMs,
    });
    throw error;
  }
  const durationMs = elapsed(started);
  const call = result as CallToolResult | undefined;
  const output = call && typeof call === "object" ? recorder.bounded(outputOf(call)) : undefined;
  if (call?.isError === true) {
    await recorder.record(ref, {
      tool: state.name,
      input: recordedInput,
      output,
      status: "error",
      error: { message: truncate(textOf(call) || "The tool reported an error", 2000), code: "tool_error" },
      durationMs,
    });
  } else {
    await recorder.record(ref, { tool: state.name, input: recordedInput, output, status: "success", durationMs });
  }
  return result;
}

interface Invocation {
  tool: string;
  input: Json | undefined;
  output?: Json;
  status: "success" | "error";
  error?: { message: string; code: string };
  durationMs: number;
}

interface Recorder {
  record(ref: SessionRef, invocation: Invocation): Promise<void>;
  bounded(value: unknown): Json | undefined;
  warn(details: Record<string, unknown>, message: string): void;
}

function createRecorder(options: TrackSessionsOptions): Recorder {
  const sessions = options.sessions;
  const createMissing = options.createMissing !== false;
  const maxBytes = options.maxRecordedBytes ?? 65_536;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 256) {
    throw new FrontdeskError("invalid_request", "maxRecordedBytes must be a whole number ≥ 256");
  }
  const logger: McpLogger = options.logger ?? {
    warn: (details, message) => console.warn(`[frontdesk:mcp] ${message}`, details),
  };
  // A store outage must not flood the log: one line per 5 s, counting the ones held back.
  let lastWarnAt = Number.NEGATIVE_INFINITY;
  let held = 0;
  const warn = (details: Record<string, unknown>, message: string): void => {
    const now = Date.now();
    if (now - lastWarnAt < 5_000) {
      held++;
      return;
    }
    lastWarnAt = now;
    try {
      logger.warn(held > 0 ? { ...details, suppressed: held } : details, message);
    } catch {
      // a broken logger must not break tool calls either
    }
    held = 0;
  };

  const link = (ref: SessionRef, invocation: Invocation) =>
    sessions.linkInvocation(ref, {
      tool: invocation.tool,
      ...(invocation.input === undefined ? {} : { input: invocation.input }),
      ...(invocation.output === undefined ? {} : { output: invocation.output }),
      ...(invocation.error === undefined ? {} : { error: invocation.error }),
      status: invocation.status,
      durationMs: invocation.durationMs,
    });

  return {
    warn,
    bounded: (value) => toBoundedJson(value, maxBytes),
    async record(ref, invocation) {
      try {
        try {
          await link(ref, invocation);
        } catch (error) {
          if (!createMissing || !isFrontdeskError(error, "not_found")) throw error;
          const id = typeof ref === "string" ? ref : ref.id;
          const userId = typeof ref === "string" || ref.userId === undefined ? undefined : ref.userId;
          await sessions.create({
            sessionId: id,
            ...(userId === undefined ? {} : { userId }),
            purpose: MCP_SESSION_PURPOSE,
            tags: [MCP_SESSION_TAG],
            ifExists: "return",
          });
          await link(ref, invocation);
        }
      } catch (error) {
        warn(
          {
            tool: invocation.tool,
            session: hashId(typeof ref === "string" ? ref : String(ref?.id)),
            code: isFrontdeskError(error) ? error.code : "internal",
            error: truncate(messageOf(error), 300),
          },
          "Could not record an MCP tool call in its session; the call went through",
        );
      }
    },
  };
}

/**
 * The tool's input schema with the session argument added: `added` when it was added (and must be
 * taken out before the tool runs), `own` when the tool declares it itself (it keeps it), `none`
 * when the schema is not an object and cannot take it.
 */
export function withSessionArgument(
  schema: unknown,
  argument = SESSION_ARGUMENT,
): { schema: unknown; mode: "added" | "own" | "none" } {
  const field = z.string().regex(SESSION_ID_PATTERN, "a session id").optional().describe(DESCRIPTION);
  if (schema === undefined) return { schema: z.object({ [argument]: field }), mode: "added" };
  if (schema === null || typeof schema !== "object") return { schema, mode: "none" };
  const v4 = (schema as { _zod?: { def?: { type?: string; shape?: Record<string, unknown> } } })._zod;
  if (v4) {
    const def = v4.def;
    if (def?.type !== "object" || !def.shape) return { schema, mode: "none" };
    if (Object.hasOwn(def.shape, argument)) return { schema, mode: "own" };
    // safeExtend keeps the schema's class (classic or mini), strictness and refinements.
    return { schema: safeExtend(schema as never, { [argument]: field } as never), mode: "added" };
  }
  const v3 = schema as { _def?: { typeName?: string }; shape?: Record<string, unknown>; extend?: unknown };
  if (v3._def?.typeName === "ZodObject" && v3.shape && typeof v3.extend === "function") {
    if (Object.hasOwn(v3.shape, argument)) return { schema, mode: "own" };
    const v3Field = z3.z.string().regex(SESSION_ID_PATTERN, "a session id").optional().describe(DESCRIPTION);
    return {
      schema: (v3.extend as (shape: Record<string, unknown>) => unknown).call(schema, { [argument]: v3Field }),
      mode: "added",
    };
  }
  return { schema, mode: "none" };
}

const isTaskHandler = (handler: unknown): boolean =>
  handler !== null && typeof handler === "object" && "createTask" in (handler as object);

const elapsed = (started: number): number => Math.round((performance.now() - started) * 1000) / 1000;

const truncate = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : "Unknown error";

const codeOf = (error: unknown): string => {
  if (isFrontdeskError(error)) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.length <= 64) return code;
  if (typeof code === "number") return String(code);
  return error instanceof Error ? error.name : "thrown";
};

/** What a result said: its content and structured content (the `_meta` and `isError` flags are left out). */
const outputOf = (result: CallToolResult): unknown => {
  const output: Record<string, unknown> = {};
  if (result.content !== undefined) output.content = result.content;
  if (result.structuredContent !== undefined) output.structuredContent = result.structuredContent;
  return output;
};

const textOf = (result: CallToolResult): string =>
  (Array.isArray(result.content) ? result.content : [])
    .map((part) => (part?.type === "text" && typeof part.text === "string" ? part.text : ""))
    .filter((text) => text.length > 0)
    .join("\n");

/** Plain JSON of `value`, or a preview with the size when it is larger than `maxBytes`. */
export function toBoundedJson(value: unknown, maxBytes: number): Json | undefined {
  if (value === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v));
  } catch {
    return { unrecordable: true, type: typeof value };
  }
  if (text === undefined) return undefined;
  const bytes = text.length > maxBytes / 4 ? Buffer.byteLength(text) : text.length;
  if (bytes > maxBytes) {
    return { truncated: true, bytes, preview: text.slice(0, Math.min(1024, maxBytes / 4)) };
  }
  return JSON.parse(text) as Json;
}

/** Log lines name a session by a short hash, never by its id (as the HTTP server's logs do). */
const hashId = (id: string): string => createHash("sha256").update(id).digest("hex").slice(0, 12);
