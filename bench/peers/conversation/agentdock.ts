/**
 * The AgentDock-style rows: a key-value store holding each session as one JSON value, read,
 * changed and written back whole on every append. This is the shape many hand-rolled session stores
 * (and AgentDock's storage providers) have; its cost grows with the history on every write.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  BENCH_USER,
  messageText,
  OTHER_SESSIONS_PER_USER,
  REDIS_URL,
  redisDeletePrefix,
  redisPrefixBytes,
  sqliteFileBytes,
  uniqueName,
} from "../backends.ts";
import type { Contender } from "../harness.ts";

interface StoredSession {
  id: string;
  userId: string;
  state: Record<string, unknown>;
  messages: { role: string; content: string; at: number }[];
  createdAt: number;
  updatedAt: number;
}

/** The three calls such a store offers: get a value, set a value, list keys under a prefix. */
interface KeyValue {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  keys(prefix: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Where a key-value store lives (a file, a key prefix): fresh ones, opened, weighed when closed, dropped. */
interface Backing {
  location(): string;
  open(location: string): Promise<KeyValue>;
  bytes(location: string): Promise<number>;
  drop(location: string): Promise<void>;
}

const keyOf = (id: string) => `session:${BENCH_USER}:${id}`;

function seeded(id: string, size: number): StoredSession {
  const now = Date.now();
  return {
    id,
    userId: BENCH_USER,
    state: {},
    messages: Array.from({ length: size }, (_, i) => ({
      role: i % 2 === 0 ? "user" : "assistant",
      content: messageText(i),
      at: now,
    })),
    createdAt: now,
    updatedAt: now,
  };
}

function kvContender(name: string, settings: string, backing: Backing): Contender {
  const location = backing.location();
  let kv: Promise<KeyValue> | undefined;
  let sessions = 0;
  const store = () => {
    kv ??= (async () => {
      const opened = await backing.open(location);
      for (let i = 0; i < OTHER_SESSIONS_PER_USER; i++) {
        await opened.set(keyOf(`other-${i}`), JSON.stringify(seeded(`other-${i}`, 2)));
      }
      return opened;
    })();
    return kv;
  };
  return {
    name,
    settings,
    async open(size) {
      const db = await store();
      const id = `conversation-${sessions++}`;
      await db.set(keyOf(id), JSON.stringify(seeded(id, size)));
      let next = 1_000_000;
      const read = async () => JSON.parse((await db.get(keyOf(id))) as string) as StoredSession;
      return {
        ops: {
          append: async () => {
            const session = await read();
            session.messages.push({ role: "user", content: messageText(next++), at: Date.now() });
            session.updatedAt = Date.now();
            await db.set(keyOf(id), JSON.stringify(session));
          },
          last50: async () => (await read()).messages.slice(-50),
          history: async () => (await read()).messages,
          list: () => db.keys(`session:${BENCH_USER}:`),
        },
      };
    },
    async bytes(size) {
      const fresh = backing.location();
      try {
        await (await backing.open(fresh)).close();
        const empty = await backing.bytes(fresh);
        const db = await backing.open(fresh);
        await db.set(keyOf("measured"), JSON.stringify(seeded("measured", size)));
        await db.close();
        return (await backing.bytes(fresh)) - empty;
      } finally {
        await backing.drop(fresh);
      }
    },
    async close() {
      if (kv) await (await kv).close();
      await backing.drop(location);
    },
  };
}

/** On SQLite: one `(key, value)` table, WAL, synchronous=NORMAL (better-sqlite3's default under WAL). */
export function agentDockSqlite(dir: string): Contender {
  return kvContender(
    "AgentDock-style SQLite",
    "better-sqlite3, WAL, synchronous=NORMAL, whole JSON value rewritten per append",
    {
      location: () => join(dir, `${uniqueName("agentdock")}.db`),
      async open(path) {
        const db = new Database(path);
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = NORMAL");
        db.exec("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID");
        const get = db.prepare<[string], { value: string }>("SELECT value FROM kv WHERE key = ?");
        const set = db.prepare(
          "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        );
        const keys = db.prepare<[string, string], { key: string }>("SELECT key FROM kv WHERE key >= ? AND key < ?");
        return {
          get: async (key) => get.get(key)?.value,
          set: async (key, value) => {
            set.run(key, value);
          },
          keys: async (prefix) => keys.all(prefix, `${prefix}\uffff`).map((row) => row.key),
          close: async () => {
            db.close();
          },
        };
      },
      bytes: async (path) => sqliteFileBytes(path),
      drop: async () => undefined,
    },
  );
}

/** On Redis: GET and SET of one string per session, SCAN for a user's keys. */
export function agentDockRedis(): Contender | undefined {
  const url = REDIS_URL;
  if (!url) return undefined;
  return kvContender(
    "AgentDock-style Redis",
    "ioredis, one connection, GET + SET of the whole JSON value per append, SCAN to list",
    {
      location: () => `${uniqueName("agentdock")}:`,
      async open(prefix) {
        const { Redis } = await import("ioredis");
        const client = new Redis(url, { keyPrefix: prefix });
        return {
          get: async (key) => (await client.get(key)) ?? undefined,
          set: async (key, value) => {
            await client.set(key, value);
          },
          // SCAN's MATCH does not apply keyPrefix, so the pattern names it.
          keys: async (pattern) => {
            const found: string[] = [];
            let cursor = "0";
            do {
              const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}${pattern}*`, "COUNT", 1000);
              cursor = next;
              found.push(...keys);
            } while (cursor !== "0");
            return found;
          },
          close: async () => {
            client.disconnect();
          },
        };
      },
      bytes: (prefix) => redisPrefixBytes(url, prefix),
      drop: (prefix) => redisDeletePrefix(url, prefix),
    },
  );
}
