import { FrontdeskError } from "../core/errors.ts";
import type { SessionStore, StoreContext } from "./types.ts";

/** Where a store reports what an operator should know: risky server settings, outages. */
export interface StoreLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

/** What `openStore` passes to the store it opens. */
export interface OpenStoreOptions extends StoreContext {
  /** Receives the Redis and PostgreSQL stores' warnings. @default console.warn */
  readonly logger?: StoreLogger;
}

/** What a store module exports so `openStore` can open it from a URL. */
export interface StoreModule {
  /**
   * `raw` is the URL exactly as given: WHATWG parsing rewrites `file:./dir` to `file:///dir`, so a
   * store whose URLs carry relative paths must read them from `raw`.
   */
  openFromUrl(url: URL, context: OpenStoreOptions, raw: string): SessionStore;
}

/** The URL schemes `openStore` knows. */
export type StoreScheme =
  | "memory:"
  | "sqlite:"
  | "file:"
  | "redis:"
  | "rediss:"
  | "redis+cluster:"
  | "rediss+cluster:"
  | "postgres:"
  | "postgresql:";

/**
 * Scheme → lazy import: a backend's driver is loaded only when a URL asks for it. Typed by
 * `StoreModule` rather than inferred, so the published declarations name no module by path.
 */
const STORES: Record<StoreScheme, () => Promise<StoreModule>> = {
  "memory:": () => import("./memory/index.ts"),
  "sqlite:": () => import("./sqlite/index.ts"),
  "file:": () => import("./fs/index.ts"),
  "redis:": () => import("./redis/index.ts"),
  "rediss:": () => import("./redis/index.ts"),
  "redis+cluster:": () => import("./redis/index.ts"),
  "rediss+cluster:": () => import("./redis/index.ts"),
  "postgres:": () => import("./postgres/index.ts"),
  "postgresql:": () => import("./postgres/index.ts"),
};

export const STORE_SCHEMES = Object.keys(STORES) as StoreScheme[];

const DRIVER_PACKAGES: Record<string, string> = {
  "sqlite:": "better-sqlite3",
  "redis:": "ioredis",
  "rediss:": "ioredis",
  "redis+cluster:": "ioredis",
  "rediss+cluster:": "ioredis",
  "postgres:": "pg",
  "postgresql:": "pg",
};

/**
 * Opens a store from its URL: `memory:`, `sqlite:./path.db` (or `sqlite::memory:`), `file:./dir`,
 * `redis://host:6379/0`, `redis+cluster://host:7001/?nodes=host:7002,host:7003`, `postgres://user@host/db`.
 * @example const store = await openStore("sqlite:./.frontdesk/frontdesk.db");
 */
export async function openStore(url: string, context: OpenStoreOptions = {}): Promise<SessionStore> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FrontdeskError("invalid_request", `Not a store URL: expected one of ${STORE_SCHEMES.join(" ")}`);
  }
  const load = (STORES as Partial<Record<string, () => Promise<StoreModule>>>)[parsed.protocol];
  if (!load) {
    throw new FrontdeskError(
      "invalid_request",
      `Unknown store scheme "${parsed.protocol}": expected one of ${STORE_SCHEMES.join(" ")}`,
    );
  }
  let module: StoreModule;
  try {
    module = await load();
  } catch (cause) {
    const pkg = DRIVER_PACKAGES[parsed.protocol];
    throw new FrontdeskError("unavailable", `Install \`${pkg ?? "the driver"}\` to use ${parsed.protocol} stores`, {
      cause,
    });
  }
  return module.openFromUrl(parsed, context, url);
}
