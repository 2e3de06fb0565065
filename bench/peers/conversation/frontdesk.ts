/**
 * Frontdesk's own rows of the conversation workload: `SessionManager` on SQLite (full and normal
 * durability), Redis and PostgreSQL. Needs only the repository's own install.
 */
import { join } from "node:path";
import { createSessionManager, type SessionManager } from "../../../src/index.ts";
import {
  BENCH_USER,
  messageText,
  OTHER_SESSIONS_PER_USER,
  POSTGRES_URL,
  postgresExec,
  postgresSchemaBytes,
  REDIS_URL,
  redisDeletePrefix,
  redisPrefixBytes,
  sqliteFileBytes,
  uniqueName,
} from "../backends.ts";
import type { Contender, Subject } from "../harness.ts";

/** One Frontdesk backend: how to name a fresh database on it, and how to weigh and drop one. */
interface FrontdeskBackend {
  name: string;
  settings: string;
  /** A store URL on a fresh database (file, schema or key prefix). */
  freshUrl(): string;
  bytes(url: string): Promise<number>;
  drop(url: string): Promise<void>;
}

/** The largest append the manager takes by default (`maxEventsPerAppend`). */
const SEED_CHUNK = 1000;

/** Fills a session with `size` alternating user/assistant messages, a thousand per commit. */
export async function seedMessages(sessions: SessionManager, id: string, size: number, from = 0): Promise<void> {
  for (let filled = 0; filled < size; ) {
    const n = Math.min(SEED_CHUNK, size - filled);
    await sessions.appendEvents(
      id,
      Array.from({ length: n }, (_, k) => ({
        type: "message",
        role: (from + filled + k) % 2 === 0 ? "user" : "assistant",
        content: messageText(from + filled + k),
      })),
    );
    filled += n;
  }
}

/** The conversation workload's four operations on one Frontdesk session. */
export function conversationOps(sessions: SessionManager, id: string): Subject["ops"] {
  let next = 1_000_000;
  return {
    append: () => sessions.addMessage(id, { role: "user", content: messageText(next++) }),
    last50: () => sessions.readEvents(id, { last: 50 }),
    history: () => sessions.readEvents(id),
    list: () => sessions.listSessions({ limit: 50 }),
  };
}

/** A contender for one backend: one store for the timed conversations, fresh ones for bytes. */
export function frontdeskContender(backend: FrontdeskBackend): Contender {
  const url = backend.freshUrl();
  let opened: Promise<SessionManager> | undefined;
  const manager = () => {
    opened ??= (async () => {
      const base = await createSessionManager({ store: url, defaultTtlMs: null });
      const sessions = base.forUser(BENCH_USER);
      for (let i = 0; i < OTHER_SESSIONS_PER_USER; i++) {
        const { id } = await sessions.create({ title: `other ${i}` });
        await seedMessages(sessions, id, 2);
      }
      return sessions;
    })();
    return opened;
  };
  return {
    name: backend.name,
    settings: backend.settings,
    frontdesk: true,
    async open(size) {
      const sessions = await manager();
      const { id } = await sessions.create({ title: `conversation of ${size}` });
      await seedMessages(sessions, id, size);
      return { ops: conversationOps(sessions, id) };
    },
    async bytes(size) {
      // Closed before each weighing, so SQLite has folded its WAL into the file (see sqliteFileBytes).
      const fresh = backend.freshUrl();
      const open = async () => (await createSessionManager({ store: fresh, defaultTtlMs: null })).forUser(BENCH_USER);
      try {
        const empty = await open();
        await empty.listSessions({ limit: 1 });
        await empty.store.close();
        const emptyBytes = await backend.bytes(fresh);
        const sessions = await open();
        const { id } = await sessions.create();
        await seedMessages(sessions, id, size);
        await sessions.store.close();
        return (await backend.bytes(fresh)) - emptyBytes;
      } finally {
        await backend.drop(fresh);
      }
    },
    async close() {
      if (opened) await (await opened).store.close();
      await backend.drop(url);
    },
  };
}

/** The Frontdesk backends configured on this machine: SQLite always, Redis and PostgreSQL when set. */
export function frontdeskBackends(dir: string): FrontdeskBackend[] {
  const backends: FrontdeskBackend[] = [];
  for (const durability of ["full", "normal"] as const) {
    backends.push({
      name: `Frontdesk SQLite (${durability})`,
      settings: `better-sqlite3, WAL, synchronous=${durability.toUpperCase()}, one connection`,
      freshUrl: () => `sqlite:${join(dir, `${uniqueName("frontdesk")}.db`)}?durability=${durability}`,
      bytes: async (url) => sqliteFileBytes(sqlitePath(url)),
      drop: async () => undefined,
    });
  }
  if (REDIS_URL) {
    const redis = REDIS_URL;
    backends.push({
      name: "Frontdesk Redis",
      settings: "ioredis, one connection, server's own persistence settings (appendfsync as configured)",
      freshUrl: () => `${redis}${redis.includes("?") ? "&" : "?"}prefix=${uniqueName("fdpeers")}:`,
      bytes: (url) => redisPrefixBytes(redis, prefixOf(url)),
      drop: (url) => redisDeletePrefix(redis, prefixOf(url)),
    });
  }
  if (POSTGRES_URL) {
    const postgres = POSTGRES_URL;
    backends.push({
      name: "Frontdesk PostgreSQL",
      settings: "pg, pool of 10, synchronous_commit as the server sets it (default on)",
      freshUrl: () => `${postgres}${postgres.includes("?") ? "&" : "?"}schema=${uniqueName("fdpeers")}`,
      bytes: (url) => postgresSchemaBytes(postgres, schemaOf(url)),
      drop: (url) => postgresExec(postgres, `DROP SCHEMA IF EXISTS "${schemaOf(url)}" CASCADE`),
    });
  }
  return backends;
}

const sqlitePath = (url: string): string => url.slice("sqlite:".length).split("?")[0] as string;
const prefixOf = (url: string): string => new URL(url).searchParams.get("prefix") as string;
const schemaOf = (url: string): string => new URL(url).searchParams.get("schema") as string;
