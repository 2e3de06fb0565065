/**
 * The raw driver rows: the physical ceiling each peer comparison is held against. A raw row does
 * what any session store must do for one message, and nothing more, straight on the driver: an
 * append is one transaction of exactly two writes (INSERT the message, UPDATE the session's head
 * and recency), the reads are one indexed query each. No validation, no idempotency, no state, no
 * live notice: what is left when the design costs nothing. A peer's multiple of the raw row is the
 * most any store on that driver could lead it by; Frontdesk's share of that is the design's cost.
 *
 * The rows take whatever operation names a workload uses (`append` is the ADK workload's
 * `append`, the LangGraph workload's `put`), so each workload measures its ceiling in its own
 * alternating rounds, beside the rows it is compared with.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  BENCH_USER,
  messageText,
  OTHER_SESSIONS_PER_USER,
  POSTGRES_URL,
  postgresExec,
  postgresSchemaBytes,
  sqliteFileBytes,
  uniqueName,
} from "./backends.ts";
import type { Contender, Subject } from "./harness.ts";

/** The four things a raw row can do; a workload maps its own operation names onto them. */
export type RawOperation = "append" | "last50" | "history" | "list";
export type RawOperationNames = Partial<Record<string, RawOperation>>;

/** The conversation workload's names, which are the raw row's own. */
export const RAW_CONVERSATION_OPS: RawOperationNames = {
  append: "append",
  last50: "last50",
  history: "history",
  list: "list",
};

export const rawSqliteName = (durability: "full" | "normal") => `raw better-sqlite3 two-write (${durability})`;
export const RAW_POSTGRES = "raw pg two-write";

/** One raw store, opened: its four operations on a conversation, and bulk seeding. */
interface RawStore {
  createSession(id: string, title: string): Promise<void>;
  seed(id: string, from: number, count: number): Promise<void>;
  append(id: string, seq: number, body: string): Promise<void>;
  last50(id: string): Promise<unknown[]>;
  history(id: string): Promise<unknown[]>;
  list(): Promise<unknown[]>;
  close(): Promise<void>;
}

interface RawBacking {
  name: string;
  settings: string;
  location(): string;
  open(location: string): Promise<RawStore>;
  /** Called with the store closed (see sqliteFileBytes). */
  bytes(location: string): Promise<number>;
  drop(location: string): Promise<void>;
}

/** The stored form of a message: the JSON a session store keeps, the same text as every row's. */
const bodyOf = (i: number): string =>
  JSON.stringify({
    type: "message",
    role: i % 2 === 0 ? "user" : "assistant",
    content: messageText(i),
    at: Date.now(),
  });

function rawContender(backing: RawBacking, names: RawOperationNames): Contender {
  const location = backing.location();
  let opened: Promise<RawStore> | undefined;
  let sessions = 0;
  const store = () => {
    opened ??= (async () => {
      const raw = await backing.open(location);
      for (let i = 0; i < OTHER_SESSIONS_PER_USER; i++) {
        await raw.createSession(`other-${i}`, `other ${i}`);
        await raw.seed(`other-${i}`, 0, 2);
      }
      return raw;
    })();
    return opened;
  };
  return {
    name: backing.name,
    settings: backing.settings,
    raw: true,
    async open(size) {
      const raw = await store();
      const id = `conversation-${sessions++}`;
      await raw.createSession(id, `conversation of ${size}`);
      await raw.seed(id, 0, size);
      let seq = size;
      let next = 1_000_000;
      const does: Record<RawOperation, () => Promise<unknown>> = {
        append: () => raw.append(id, ++seq, bodyOf(next++)),
        last50: () => raw.last50(id),
        history: () => raw.history(id),
        list: () => raw.list(),
      };
      const ops: Record<string, () => Promise<unknown>> = {};
      for (const [name, op] of Object.entries(names)) if (op) ops[name] = does[op];
      return { ops } satisfies Subject;
    },
    async bytes(size) {
      const fresh = backing.location();
      try {
        await (await backing.open(fresh)).close();
        const empty = await backing.bytes(fresh);
        const raw = await backing.open(fresh);
        await raw.createSession("measured", "measured");
        await raw.seed("measured", 0, size);
        await raw.close();
        return (await backing.bytes(fresh)) - empty;
      } finally {
        await backing.drop(fresh);
      }
    },
    async close() {
      if (opened) await (await opened).close();
      await backing.drop(location);
    },
  };
}

/**
 * better-sqlite3 in WAL mode at the given durability. Messages live in a WITHOUT ROWID table keyed
 * by (session, seq), so the last 50 are one range scan; sessions carry their head and recency,
 * indexed by (user, updated_at) for the list: the least a store needs to serve the four calls.
 */
export function rawSqlite(dir: string, durability: "full" | "normal", names: RawOperationNames): Contender {
  return rawContender(
    {
      name: rawSqliteName(durability),
      settings:
        `better-sqlite3, WAL, synchronous=${durability.toUpperCase()}, one connection; an append is one transaction of ` +
        "INSERT message + UPDATE session (head, updated_at; index on user, updated_at)",
      location: () => join(dir, `${uniqueName("raw")}.db`),
      async open(path) {
        const db = new Database(path);
        db.pragma("journal_mode = WAL");
        db.pragma(`synchronous = ${durability.toUpperCase()}`);
        db.exec(`
          CREATE TABLE IF NOT EXISTS sessions (
            id TEXT PRIMARY KEY, user_id TEXT NOT NULL, title TEXT, last_seq INTEGER NOT NULL, updated_at INTEGER NOT NULL
          );
          CREATE INDEX IF NOT EXISTS sessions_user_updated ON sessions (user_id, updated_at);
          CREATE TABLE IF NOT EXISTS messages (
            session_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (session_id, seq)
          ) WITHOUT ROWID;`);
        const insertSession = db.prepare("INSERT INTO sessions VALUES (?, ?, ?, 0, ?)");
        const insertMessage = db.prepare("INSERT INTO messages VALUES (?, ?, ?)");
        const updateSession = db.prepare("UPDATE sessions SET last_seq = ?, updated_at = ? WHERE id = ?");
        const append = db.transaction((id: string, seq: number, body: string) => {
          insertMessage.run(id, seq, body);
          updateSession.run(seq, Date.now(), id);
        });
        const seed = db.transaction((id: string, from: number, count: number) => {
          for (let i = from; i < from + count; i++) insertMessage.run(id, i + 1, bodyOf(i));
          updateSession.run(from + count, Date.now(), id);
        });
        const last50 = db.prepare<[string], { body: string }>(
          "SELECT body FROM messages WHERE session_id = ? ORDER BY seq DESC LIMIT 50",
        );
        const history = db.prepare<[string], { body: string }>(
          "SELECT body FROM messages WHERE session_id = ? ORDER BY seq",
        );
        const list = db.prepare(
          "SELECT id, title, last_seq, updated_at FROM sessions WHERE user_id = ? ORDER BY updated_at DESC LIMIT 50",
        );
        const parse = (rows: { body: string }[]) => rows.map((row) => JSON.parse(row.body) as unknown);
        return {
          createSession: async (id, title) => void insertSession.run(id, BENCH_USER, title, Date.now()),
          seed: async (id, from, count) => seed(id, from, count),
          append: async (id, seq, body) => append(id, seq, body),
          last50: async (id) => parse(last50.all(id)).reverse(),
          history: async (id) => parse(history.all(id)),
          list: async () => list.all(BENCH_USER),
          close: async () => void db.close(),
        };
      },
      bytes: async (path) => sqliteFileBytes(path),
      drop: async () => undefined,
    },
    names,
  );
}

/**
 * pg on one connection, the same two tables in a schema of their own. The append's two writes are
 * one statement (a data-modifying WITH), so they are one transaction in one round trip: the least
 * a PostgreSQL append can cost.
 */
export function rawPostgres(names: RawOperationNames): Contender | undefined {
  const url = POSTGRES_URL;
  if (!url) return undefined;
  return rawContender(
    {
      name: RAW_POSTGRES,
      settings:
        "pg, one connection, synchronous_commit on; an append is one statement (WITH … INSERT message … UPDATE " +
        "session), one transaction in one round trip; tables analyzed after seeding",
      location: () => uniqueName("rawpeers"),
      async open(schema) {
        const pg = await import("pg");
        const client = new pg.default.Client({ connectionString: url });
        await client.connect();
        const s = `"${schema}"`;
        await client.query(`
          CREATE SCHEMA IF NOT EXISTS ${s};
          CREATE TABLE IF NOT EXISTS ${s}.sessions (
            id text PRIMARY KEY, user_id text NOT NULL, title text, last_seq bigint NOT NULL, updated_at bigint NOT NULL
          );
          CREATE INDEX IF NOT EXISTS sessions_user_updated ON ${s}.sessions (user_id, updated_at);
          CREATE TABLE IF NOT EXISTS ${s}.messages (
            session_id text NOT NULL, seq bigint NOT NULL, body jsonb NOT NULL, PRIMARY KEY (session_id, seq)
          );`);
        const named = (name: string, text: string) => ({ name: `${schema}_${name}`, text });
        const append = named(
          "append",
          `WITH inserted AS (INSERT INTO ${s}.messages VALUES ($1, $2, $3)) ` +
            `UPDATE ${s}.sessions SET last_seq = $2, updated_at = $4 WHERE id = $1`,
        );
        const last50 = named(
          "last50",
          `SELECT body FROM ${s}.messages WHERE session_id = $1 ORDER BY seq DESC LIMIT 50`,
        );
        const history = named("history", `SELECT body FROM ${s}.messages WHERE session_id = $1 ORDER BY seq`);
        const list = named(
          "list",
          `SELECT id, title, last_seq, updated_at FROM ${s}.sessions WHERE user_id = $1 ORDER BY updated_at DESC LIMIT 50`,
        );
        return {
          createSession: async (id, title) =>
            void (await client.query(`INSERT INTO ${s}.sessions VALUES ($1, $2, $3, 0, $4)`, [
              id,
              BENCH_USER,
              title,
              Date.now(),
            ])),
          async seed(id, from, count) {
            const bodies = Array.from({ length: count }, (_, k) => bodyOf(from + k));
            await client.query(
              `WITH inserted AS (INSERT INTO ${s}.messages SELECT $1, $2::bigint + n, body::jsonb FROM unnest($3::text[]) WITH ORDINALITY AS t(body, n)) ` +
                `UPDATE ${s}.sessions SET last_seq = $4, updated_at = $5 WHERE id = $1`,
              [id, from, bodies, from + count, Date.now()],
            );
            // Fresh tables have no statistics, and without them PostgreSQL reads a long session's
            // last 50 by fetching every row and sorting: the ceiling is the driver at its best.
            await client.query(`ANALYZE ${s}.messages, ${s}.sessions`);
          },
          append: async (id, seq, body) =>
            void (await client.query({ ...append, values: [id, seq, body, Date.now()] })),
          last50: async (id) => (await client.query({ ...last50, values: [id] })).rows.reverse(),
          history: async (id) => (await client.query({ ...history, values: [id] })).rows,
          list: async () => (await client.query({ ...list, values: [BENCH_USER] })).rows,
          close: () => client.end(),
        };
      },
      bytes: (schema) => postgresSchemaBytes(url, schema),
      drop: (schema) => postgresExec(url, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
    },
    names,
  );
}

/** The raw rows a workload needs: SQLite at both durabilities, PostgreSQL when configured. */
export function rawContenders(dir: string, names: RawOperationNames): Contender[] {
  const postgres = rawPostgres(names);
  return [rawSqlite(dir, "full", names), rawSqlite(dir, "normal", names), ...(postgres ? [postgres] : [])];
}
