/**
 * `frontdesk mcp`: the Frontdesk MCP server over stdio for one local user. stdout carries only
 * MCP messages; everything for people goes to stderr.
 */
import type { Readable, Writable } from "node:stream";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { FrontdeskError } from "../core/errors.ts";
import { assertUserId } from "../core/ids.ts";
import { SessionManager, type SessionManagerOptions } from "../core/session-manager.ts";
import { openStore } from "../stores/registry.ts";
import type { SessionStore } from "../stores/types.ts";
import { createFrontdeskMcpServer } from "./server.ts";
import type { McpLogger } from "./track.ts";

/** The same default as `frontdesk serve` (docs/cli.md). */
export const DEFAULT_MCP_STORE_URL = "sqlite:./.frontdesk/frontdesk.db";
/** The user of a stdio server when neither `userId` nor `FRONTDESK_USER` names one. */
export const DEFAULT_MCP_USER = "local";

/** The streams and environment of the process (the CLI's `CliIo` fits). */
export interface StdioServerIo {
  /** MCP messages in. @default process.stdin */
  readonly stdin?: Readable;
  /** MCP messages out, and nothing else. */
  readonly stdout: Writable;
  /** Logs for people. */
  readonly stderr: Writable;
  /** Read for `FRONTDESK_STORE` and `FRONTDESK_USER`. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Stops the server, as the end of stdin does. */
  readonly signal?: AbortSignal;
}

export interface RunStdioServerOptions {
  /** @default $FRONTDESK_STORE, else sqlite:./.frontdesk/frontdesk.db */
  storeUrl?: string;
  /** An open store instead of a URL; it is not closed at the end. */
  store?: SessionStore;
  /** Whose sessions the tools act on. @default $FRONTDESK_USER, else "local" */
  userId?: string;
  /** @default "default" */
  namespace?: string;
  io: StdioServerIo;
  /** Manager options (TTL, limits…) for the sessions served. */
  manager?: Omit<SessionManagerOptions, "userId">;
  /** Also stop on SIGTERM and SIGINT. @default true */
  handleSignals?: boolean;
}

const envOf = (io: StdioServerIo): NodeJS.ProcessEnv => io.env ?? process.env;
const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === "" ? undefined : value.trim();

/**
 * Serves the caller's sessions over MCP on stdio until stdin ends (the client went away), the
 * signal aborts, or SIGTERM/SIGINT arrives; then closes the server and the store it opened.
 * Throws (`invalid_request`, `unavailable`) before serving when the store or user is bad.
 *
 * @example await runStdioServer({ io: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr } });
 */
export async function runStdioServer(options: RunStdioServerOptions): Promise<void> {
  const io = options.io;
  if (!io?.stdout || !io.stderr) {
    throw new FrontdeskError("invalid_request", "runStdioServer needs io with stdout and stderr");
  }
  const env = envOf(io);
  const userId = assertUserId(nonEmpty(options.userId) ?? nonEmpty(env.FRONTDESK_USER) ?? DEFAULT_MCP_USER);
  const storeUrl = nonEmpty(options.storeUrl) ?? nonEmpty(env.FRONTDESK_STORE) ?? DEFAULT_MCP_STORE_URL;
  const stdin = io.stdin ?? process.stdin;
  const logger: McpLogger = {
    warn: (details, message) => {
      io.stderr.write(`frontdesk mcp: ${message} ${JSON.stringify(details)}\n`);
    },
  };

  const store = options.store ?? (await openStore(storeUrl));
  const ownsStore = options.store === undefined;
  try {
    const sessions = new SessionManager(() => ({}), store, options.namespace ?? "default", {
      ...options.manager,
      userId,
    });
    // Fail before serving when the store cannot be opened, rather than on the first tool call.
    await sessions.listSessions({ limit: 1 });
    const server = createFrontdeskMcpServer({ sessions, logger });
    const transport = new StdioServerTransport(stdin, io.stdout);

    let stop = (): void => {};
    const stopped = new Promise<string>((resolve) => {
      const end = (reason: string) => () => resolve(reason);
      const onEnd = end("stdin closed");
      const onAbort = end("stopped");
      const onTerm = end("SIGTERM");
      const onInt = end("SIGINT");
      stdin.once("end", onEnd);
      stdin.once("close", onEnd);
      io.signal?.addEventListener("abort", onAbort, { once: true });
      if (io.signal?.aborted) onAbort();
      const signals = options.handleSignals !== false;
      if (signals) {
        // `on`, not `once`: removed by stop() only after the delivery is over. signal-exit (loaded
        // with the file store's lock library) re-raises a signal that finds it the only listener
        // left, which would kill the process before the store is closed.
        process.on("SIGTERM", onTerm);
        process.on("SIGINT", onInt);
      }
      transport.onclose = end("transport closed");
      stop = () => {
        stdin.off("end", onEnd);
        stdin.off("close", onEnd);
        io.signal?.removeEventListener("abort", onAbort);
        if (signals) {
          process.off("SIGTERM", onTerm);
          process.off("SIGINT", onInt);
        }
      };
    });

    await server.connect(transport);
    io.stderr.write(`frontdesk mcp: serving the sessions of user "${userId}" on ${store.name} over stdio\n`);
    await stopped;
    stop();
    await server.close().catch(() => undefined);
    // A paused stdin must not keep the process alive once the server is done.
    if (stdin === process.stdin) process.stdin.destroy();
  } finally {
    if (ownsStore) await store.close().catch(() => undefined);
  }
}
