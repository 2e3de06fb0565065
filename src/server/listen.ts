/** The only file that binds a port. */

import type { AddressInfo } from "node:net";
import { isIP } from "node:net";
import type { FastifyInstance } from "fastify";
import { FrontdeskError } from "../core/errors.ts";
import { type AppOptions, createApp } from "./app.ts";

export interface StartServerOptions extends AppOptions {
  /** @default "127.0.0.1" */
  host?: string;
  /** @default 7420; 0 picks a free port */
  port?: number;
  /** Close the store when the server closes. @default true */
  closeStore?: boolean;
}

export interface RunningServer {
  /** `http://HOST:PORT`, with the real port when 0 was asked. */
  url: string;
  app: FastifyInstance;
  /**
   * Drains: stops accepting connections, answers new requests on open connections 503, ends every
   * live stream with a resume hint, waits for in-flight requests, then closes the store. Idempotent.
   */
  close(): Promise<void>;
}

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 7420;

/** True for names and addresses that never leave this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || /^::ffff:127\./.test(h);
  return false;
}

/**
 * Starts the HTTP API. Refuses (`invalid_request`) a host beyond loopback while the store has no
 * live API key: such a server could not be used, and an operator most likely forgot auth.
 * @example const server = await startServer({ store, port: 0 }); console.log(`listening on ${server.url}`);
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) {
    throw new FrontdeskError("invalid_request", `Not a port: ${String(port)}`);
  }
  if (!isLoopbackHost(host)) {
    const keys = await options.store.listApiKeys();
    if (!keys.some((key) => key.revokedAt === null)) {
      throw new FrontdeskError(
        "invalid_request",
        `Refusing to listen on ${host} without API keys: create one with \`frontdesk keys create --user ID\`, or listen on 127.0.0.1`,
      );
    }
  }
  const app = await createApp(options);
  try {
    await app.listen({ host, port });
  } catch (cause) {
    await app.close().catch(() => undefined);
    const code = (cause as { code?: unknown }).code;
    throw new FrontdeskError(
      "unavailable",
      code === "EADDRINUSE" ? `Port ${port} on ${host} is in use` : `Cannot listen on ${host}:${port}`,
      { cause },
    );
  }
  const address = app.server.address() as AddressInfo;
  const shownHost = isIP(host) === 6 ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}`,
    app,
    close() {
      closing ??= (async () => {
        try {
          await app.close();
        } finally {
          if (options.closeStore !== false) await options.store.close();
        }
      })();
      return closing;
    },
  };
}
