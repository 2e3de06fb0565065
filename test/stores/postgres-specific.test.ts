import { randomBytes } from "node:crypto";
import net from "node:net";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { isFrontdeskError } from "../../src/core/errors.ts";
import type { SessionEvent, SessionHeader, SessionKey } from "../../src/core/model.ts";
import { createSessionManager } from "../../src/index.ts";
import { createPostgresStore, openFromUrl, type PostgresStoreOptions } from "../../src/stores/postgres/index.ts";
import { LISTED, MIGRATIONS } from "../../src/stores/postgres/migrations.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { customEvent, sessionHeader } from "../../src/testing/conformance/records.ts";

const url = process.env.FRONTDESK_TEST_POSTGRES_URL;

const NOW = Date.UTC(2026, 0, 1);
/** Every schema version a fully migrated database records. */
const ALL_VERSIONS = MIGRATIONS.map((migration) => migration.version);

/** Version `version` holding events 1..lastSeq; with an `expiresAt` it has a 60 s TTL. */
const headerFor = (key: SessionKey, version: number, lastSeq: number, expiresAt: number | null = null): SessionHeader =>
  sessionHeader(key, NOW, {
    state: { v: version },
    version,
    lastSeq,
    ttlMs: expiresAt === null ? null : 60_000,
    expiresAt,
  });

const eventOf = (seq: number): SessionEvent => customEvent(seq, NOW);

const waitFor = async (condition: () => boolean, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const caught = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
};

/** A TCP proxy to the test server that a case can cut and restore, to play an outage. */
const startProxy = async (target: URL) => {
  const sockets = new Set<net.Socket>();
  let up = true;
  const server = net.createServer((inbound) => {
    if (!up) {
      inbound.destroy();
      return;
    }
    const outbound = net.connect(Number(target.port || 5432), target.hostname);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: (() => {
      const via = new URL(target.href);
      via.hostname = "127.0.0.1";
      via.port = String(port);
      return via.href;
    })(),
    cut(): void {
      up = false;
      for (const socket of sockets) socket.destroy();
    },
    restore(): void {
      up = true;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

/** The store, with the name of every method called on it recorded in `calls`. */
const counted = (inner: SessionStore): { store: SessionStore; calls: string[] } => {
  const calls: string[] = [];
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        return value.apply(target, args);
      };
    },
  });
  return { store, calls };
};

describe.skipIf(!url)("postgres store specifics", () => {
  const connection = url as string;
  const admin = new pg.Pool({ connectionString: connection, max: 2 });
  const schemas = new Set<string>();
  let opened: SessionStore[] = [];

  const newSchema = (): string => {
    const schema = `fdspec_${randomBytes(5).toString("hex")}`;
    schemas.add(schema);
    return schema;
  };
  const open = (options: PostgresStoreOptions): SessionStore => {
    const store = createPostgresStore({ url: connection, ...options });
    opened.push(store);
    return store;
  };

  afterEach(async () => {
    await Promise.all(opened.map((store) => store.close()));
    opened = [];
  });
  afterAll(async () => {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });

  it("migrations run once on first use, are idempotent, and are safe when stores migrate at once", async () => {
    const schema = newSchema();
    const stores = Array.from({ length: 6 }, () => open({ schema, maxConnections: 2 }));
    await Promise.all(stores.map((store) => store.count("ns", "u1", NOW)));
    const { rows } = await admin.query<{ version: number }>(
      `SELECT version FROM "${schema}".frontdesk_migrations ORDER BY version`,
    );
    expect(rows.map((row) => row.version)).toEqual(ALL_VERSIONS);

    const again = open({ schema });
    expect(await again.count("ns", "u1", NOW)).toBe(0);
    expect((await admin.query(`SELECT 1 FROM "${schema}".frontdesk_migrations`)).rowCount).toBe(ALL_VERSIONS.length);
  });

  it("a schema migrated before the conditional delete existed gains it on the next open", async () => {
    const schema = newSchema();
    const before = open({ schema });
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };
    await before.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 1), events: [eventOf(1)], now: NOW });
    // Back to what a version-1 database looks like.
    await admin.query(`DROP FUNCTION "${schema}".frontdesk_delete_at_version(text, text, text, bigint, bigint)`);
    await admin.query(`ALTER TABLE "${schema}".api_keys DROP COLUMN requests_per_second`);
    await admin.query(`DELETE FROM "${schema}".frontdesk_migrations WHERE version >= 2`);

    const after = open({ schema });
    expect(await after.delete(key, { expectedVersion: 1, now: NOW })).toBe(true);
    const { rows } = await admin.query<{ version: number }>(
      `SELECT version FROM "${schema}".frontdesk_migrations ORDER BY version`,
    );
    expect(rows.map((row) => row.version)).toEqual(ALL_VERSIONS);
  });

  it("nothing connects before the first call", async () => {
    const schema = newSchema();
    open({ schema });
    const { rows } = await admin.query("SELECT to_regnamespace($1) AS found", [`"${schema}"`]);
    expect(rows[0].found).toBeNull();
  });

  it("an unreachable server fails fast with unavailable and no password in the message", async () => {
    const secret = "s3cret-Pa55word";
    const store = open({ url: `postgres://frontdesk:${secret}@127.0.0.1:1/test`, schema: newSchema() });
    const started = Date.now();
    const error = await caught(store.get({ namespace: "ns", userId: "u1", id: "s1" }, NOW));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(isFrontdeskError(error, "unavailable")).toBe(true);
    const shown = `${String(error)} ${JSON.stringify(error)} ${(error as Error).message}`;
    expect(shown).not.toContain(secret);
    expect(shown).not.toContain("127.0.0.1:1/test");
  });

  it("an unreachable server fails within connectionTimeoutMs even when it does not answer", async () => {
    // 10.255.255.1 is unroutable: the connect attempt hangs instead of being refused.
    const store = open({ url: "postgres://u:p@10.255.255.1:5432/test", schema: newSchema(), connectionTimeoutMs: 300 });
    const started = Date.now();
    const error = await caught(store.count("ns", "u1", NOW));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(isFrontdeskError(error, "unavailable")).toBe(true);
  });

  it("idle connections close after idleTimeoutMs, while a default pool idle as long keeps its own", async () => {
    // Each store's connections carry an application name of their own (the URL's wins), so
    // pg_stat_activity tells them apart from every other file's.
    const named = (name: string) => {
      const withName = new URL(connection);
      withName.searchParams.set("application_name", name);
      return withName.toString();
    };
    const connectionsOf = async (name: string): Promise<number> =>
      (
        await admin.query<{ n: number }>(
          "SELECT count(*)::integer AS n FROM pg_stat_activity WHERE application_name = $1",
          [name],
        )
      ).rows[0]?.n ?? -1;
    const suffix = randomBytes(4).toString("hex");
    const brief = `fd_idle_brief_${suffix}`;
    const kept = `fd_idle_kept_${suffix}`;
    const briefStore = open({ url: named(brief), schema: newSchema(), idleTimeoutMs: 200 });
    const keptStore = open({ url: named(kept), schema: newSchema() });
    // Several calls at once, so each pool holds more than one connection.
    await Promise.all([briefStore, keptStore].flatMap((store) => [1, 2, 3].map(() => store.count("ns", "u1", NOW))));
    expect(await connectionsOf(brief)).toBeGreaterThan(1);
    const keptBefore = await connectionsOf(kept);
    expect(keptBefore).toBeGreaterThan(1);
    // Well under node-postgres's own 10 s, so a pool that ignored the option would fail here.
    const deadline = Date.now() + 5_000;
    while ((await connectionsOf(brief)) > 0) {
      if (Date.now() > deadline) throw new Error("the idle connections outlived idleTimeoutMs by 5 s");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The default pool, idle as long, kept every connection.
    expect(await connectionsOf(kept)).toBe(keptBefore);
    await briefStore.count("ns", "u1", NOW);
  });

  it("refuses an idleTimeoutMs that is not a non-negative integer", () => {
    for (const idleTimeoutMs of [-1, 1.5, Number.NaN]) {
      let error: unknown;
      try {
        createPostgresStore({ url: connection, schema: newSchema(), idleTimeoutMs });
      } catch (thrown) {
        error = thrown;
      }
      expect(isFrontdeskError(error, "invalid_request")).toBe(true);
    }
  });

  it("a stale commit writes nothing, and a scoped conflict rolls back the session write too", async () => {
    const store = open({ schema: newSchema() });
    const key = { namespace: "ns", userId: "u1", id: "s1" };
    await store.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 1), events: [eventOf(1)], now: NOW });
    await store.commit({ key, expectedVersion: 1, header: headerFor(key, 2, 2), events: [eventOf(2)], now: NOW });

    const stale = await caught(
      store.commit({ key, expectedVersion: 1, header: headerFor(key, 2, 3), events: [eventOf(3)], now: NOW }),
    );
    expect(isFrontdeskError(stale, "conflict")).toBe(true);
    expect((stale as { details?: unknown }).details).toEqual({ currentVersion: 2 });

    const scoped = await caught(
      store.commit({
        key,
        expectedVersion: 2,
        header: headerFor(key, 3, 3),
        events: [eventOf(3)],
        scoped: [{ scope: "user", expectedVersion: 4, delta: { "user:x": 1 } }],
        idempotency: { key: "idem", fingerprint: "f", firstSeq: 3, lastSeq: 3, version: 3, at: NOW },
        now: NOW,
      }),
    );
    expect(isFrontdeskError(scoped, "conflict")).toBe(true);
    expect((await store.get(key, NOW))?.version).toBe(2);
    expect((await store.readEvents(key, {})).map((event) => event.seq)).toEqual([1, 2]);
    expect(await store.readScope("ns", "user", "u1")).toEqual({ state: {}, version: 0 });
    expect(await store.findIdempotency(key, "idem")).toBeUndefined();
  });

  it("concurrent commits at one version from two instances: exactly one wins", async () => {
    const schema = newSchema();
    const a = open({ schema });
    const b = open({ schema });
    const key = { namespace: "ns", userId: null, id: "race" };
    await a.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 0), events: [], now: NOW });
    const attempts = Array.from({ length: 10 }, (_, i) =>
      (i % 2 ? a : b).commit({ key, expectedVersion: 1, header: headerFor(key, 2, 1), events: [eventOf(1)], now: NOW }),
    );
    const results = await Promise.allSettled(attempts);
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    for (const result of results) {
      if (result.status === "rejected") expect(isFrontdeskError(result.reason, "conflict")).toBe(true);
    }
    expect((await b.readEvents(key, {})).map((event) => event.seq)).toEqual([1]);
  });

  it("create over an expired session replaces it and its events; a write to it is not_found", async () => {
    const store = open({ schema: newSchema() });
    const key = { namespace: "ns", userId: "u1", id: "old" };
    await store.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, 1, 2, NOW + 10),
      events: [eventOf(1), eventOf(2)],
      idempotency: { key: "idem", fingerprint: "f", firstSeq: 1, lastSeq: 2, version: 1, at: NOW },
      now: NOW,
    });
    const later = NOW + 10;
    const write = await caught(
      store.commit({ key, expectedVersion: 1, header: headerFor(key, 2, 3), events: [eventOf(3)], now: later }),
    );
    expect(isFrontdeskError(write, "not_found")).toBe(true);
    expect(await store.touch(key, { expiresAt: later + 100, lastAccessedAt: later }, later)).toBe(false);

    await store.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 1), events: [eventOf(1)], now: later });
    expect((await store.readEvents(key, {})).map((event) => event.id)).toEqual(["e1"]);
    expect(await store.findIdempotency(key, "idem")).toBeUndefined();
  });

  it("delete and sweep remove the events and idempotency records with the header", async () => {
    const schema = newSchema();
    const store = open({ schema });
    const keep = { namespace: "ns", userId: "u1", id: "keep" };
    const doomed = { namespace: "ns", userId: "u1", id: "doomed" };
    const expiring = { namespace: "ns", userId: null, id: "expiring" };
    const idempotency = { key: "idem", fingerprint: "f", firstSeq: 1, lastSeq: 2, version: 1, at: NOW };
    for (const [key, expiresAt] of [
      [keep, null],
      [doomed, null],
      [expiring, NOW + 5],
    ] as const) {
      await store.commit({
        key,
        expectedVersion: 0,
        header: headerFor(key, 1, 2, expiresAt),
        events: [eventOf(1), eventOf(2)],
        idempotency,
        now: NOW,
      });
    }
    expect(await store.delete(doomed)).toBe(true);
    expect(await store.delete(doomed)).toBe(false);
    expect(await store.sweep(NOW + 5, 10)).toBe(1);
    expect(await store.sweep(NOW + 5, 10)).toBe(0);
    const rows = async (table: string) =>
      Number((await admin.query(`SELECT count(*) AS n FROM "${schema}".${table}`)).rows[0].n);
    expect(await rows("sessions")).toBe(1);
    expect(await rows("events")).toBe(2);
    expect(await rows("idempotency")).toBe(1);
  });

  it("removed and rewritten events leave no row holding their old content", async () => {
    const schema = newSchema();
    const store = open({ schema });
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };
    const events = Array.from({ length: 6 }, (_, i) => customEvent(i + 1, NOW, `secret-${i + 1}`));
    await store.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 6), events, now: NOW });
    await store.commit({
      key,
      expectedVersion: 1,
      header: headerFor(key, 2, 7),
      events: [customEvent(7, NOW, "appended")],
      removeEvents: { after: 1, before: 4 },
      rewrites: [customEvent(5, NOW, "redacted")],
      now: NOW,
    });
    const { rows } = await admin.query<{ seq: string; body: string }>(
      `SELECT seq, body FROM "${schema}".events ORDER BY seq`,
    );
    expect(rows.map((row) => Number(row.seq))).toEqual([1, 4, 5, 6, 7]);
    const bodies = rows.map((row) => row.body).join("\n");
    for (const seq of [2, 3, 5]) expect(bodies).not.toContain(`secret-${seq}"`);
    expect((await store.readEvents(key, { order: "desc", before: 5, limit: 2 })).map((e) => e.seq)).toEqual([4, 1]);
  });

  it("a rewriting commit whose header does not continue the stored log is invalid_request and changes nothing", async () => {
    const store = open({ schema: newSchema() });
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };
    await store.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, 1, 3),
      events: [1, 2, 3].map(eventOf),
      now: NOW,
    });
    // The header claims a log of 5 events where 3 are stored: seq 4 looks like a stored event.
    const error = await store
      .commit({
        key,
        expectedVersion: 1,
        header: headerFor(key, 2, 5),
        events: [],
        rewrites: [customEvent(4, NOW, "x")],
        now: NOW,
      })
      .catch((e: unknown) => e);
    expect(isFrontdeskError(error, "invalid_request")).toBe(true);
    expect((await store.get(key, NOW))?.version).toBe(1);
    expect((await store.readEvents(key, {})).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("a schema migrated before rewriting commits existed gains them on the next open", async () => {
    const schema = newSchema();
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };
    await open({ schema }).commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, 1, 2),
      events: [1, 2].map(eventOf),
      now: NOW,
    });
    await admin.query(`DROP FUNCTION "${schema}".frontdesk_commit_rewriting`);
    await admin.query(`DELETE FROM "${schema}".frontdesk_migrations WHERE version >= 4`);

    const after = open({ schema });
    const rewrites = [customEvent(1, NOW, "redacted")];
    await after.commit({ key, expectedVersion: 1, header: headerFor(key, 2, 2), events: [], rewrites, now: NOW });
    expect((await after.readEvents(key, { limit: 1 }))[0]).toEqual(rewrites[0]);
  });

  it("a plain append is one statement: no header read, no commit, and the header keeps its keys in order", async () => {
    const inner = open({ schema: newSchema() });
    const { store, calls } = counted(inner);
    const sessions = await createSessionManager({ store, defaultTtlMs: null });
    const { id } = await sessions.create({ userId: "u1", title: "t" });
    const key: SessionKey = { namespace: sessions.namespace, userId: "u1", id };
    const created = (await inner.get(key, Date.now())) as SessionHeader;
    calls.length = 0;
    await sessions.addMessage({ id, userId: "u1" }, { role: "user", content: "hi", usage: { inputTokens: 2 } });
    await sessions.linkInvocation({ id, userId: "u1" }, { tool: "search", output: 1, durationMs: 4 });
    expect(calls).toEqual(["append", "append"]);

    const header = (await inner.get(key, Date.now())) as SessionHeader;
    expect(Object.keys(header)).toEqual(Object.keys(created));
    expect(Object.keys(header.stats)).toEqual(Object.keys(created.stats));
    expect(header).toMatchObject({ version: 3, lastSeq: 3, title: "t" });
    expect(header.stats).toMatchObject({
      messages: 1,
      toolCalls: 1,
      toolsUsed: ["search"],
      inputTokens: 2,
      durationMs: 4,
    });
    // A commit after the appends writes the whole header again, from what the appends left.
    await sessions.update({ id, userId: "u1" }, (state) => ({ ...state, n: 1 }));
    expect(await inner.get(key, Date.now())).toMatchObject({ version: 4, lastSeq: 4, stats: header.stats });
  });

  it("the header text an append leaves is whole and current, so an instance of an earlier version reads it right", async () => {
    const schema = newSchema();
    const { store, calls } = counted(open({ schema }));
    const sessions = await createSessionManager({ store, defaultTtlMs: 60_000 });
    const state = { b: "x\u0000y", a: { version: 9, namespace: "not mine" }, '","namespace":': 1 };
    const { id } = await sessions.create({ userId: "u1", state, metadata: { z: 1, y: [2] } });
    calls.length = 0;
    await sessions.addMessage({ id, userId: "u1" }, { role: "user", content: "hi", usage: { costUsd: 0.1 } });
    await sessions.addMessage({ id, userId: "u1" }, { role: "user", content: "yo", usage: { costUsd: 0.2 } });
    expect(calls).toEqual(["append", "append"]);
    const { rows } = await admin.query<{ header: string; version: number }>(
      `SELECT header, version FROM "${schema}".sessions`,
    );
    const text = JSON.parse(rows[0]?.header as string) as SessionHeader;
    expect(text).toMatchObject({ version: 3, lastSeq: 3, stats: { messages: 2, costUsd: 0.30000000000000004 } });
    expect(text.version).toBe(rows[0]?.version);
    // The user's state and metadata keep their bytes: key order and the NUL escape included.
    expect(rows[0]?.header).toContain(JSON.stringify(state));
    expect(Object.keys(text.metadata)).toEqual(["z", "y"]);
    expect(await sessions.get({ id, userId: "u1" })).toMatchObject({ version: 3, state, stats: { messages: 2 } });
  });

  it("a schema migrated before one-statement appends gains them on the next open, and its sessions read on", async () => {
    const schema = newSchema();
    const before = await createSessionManager({ store: open({ schema }), defaultTtlMs: null });
    const { id } = await before.create({ userId: "u1" });
    await before.addMessage({ id, userId: "u1" }, { role: "user", content: "one" });
    // A full commit writes the whole header, as every write did before version 6.
    await before.update({ id, userId: "u1" }, (state) => ({ ...state, n: 1 }));
    await admin.query(`DROP FUNCTION "${schema}".frontdesk_append`);
    await admin.query(`DELETE FROM "${schema}".frontdesk_migrations WHERE version >= 6`);
    // The header text as an earlier version wrote it: JSON.stringify in the header's own order.
    const written = await before.get({ id, userId: "u1" });
    const legacy = JSON.stringify(written);
    await admin.query(`UPDATE "${schema}".sessions SET header = $1`, [legacy]);
    expect(legacy.startsWith('{"namespace":')).toBe(true);

    const { store, calls } = counted(open({ schema }));
    const after = await createSessionManager({ store, defaultTtlMs: null });
    await after.addMessage({ id, userId: "u1" }, { role: "user", content: "two" });
    // The old layout is declined, read and committed in the new one; the next append is one step.
    await after.addMessage({ id, userId: "u1" }, { role: "user", content: "three" });
    expect(calls).toEqual(["append", "get", "commit", "append"]);
    const session = await after.get({ id, userId: "u1" });
    expect(session).toMatchObject({ version: 5, lastSeq: 4, state: { n: 1 }, stats: { messages: 3 } });
    expect((await after.readEvents({ id, userId: "u1" })).map((event) => event.type)).toEqual([
      "message",
      "state",
      "message",
      "message",
    ]);
    const { rows } = await admin.query<{ version: number }>(
      `SELECT version FROM "${schema}".frontdesk_migrations ORDER BY version`,
    );
    expect(rows.map((row) => row.version)).toEqual(ALL_VERSIONS);
  });

  it("a keyed lookup reads sessions_key whatever plan a connection cached while the table was small", async () => {
    const schema = newSchema();
    await open({ schema }).count("ns", "u1", NOW);
    const fill = (prefix: string, count: number) =>
      admin.query(
        `INSERT INTO "${schema}".sessions (namespace, user_id, id, version, last_seq, status, tags, created_at,
          updated_at, last_accessed_at, header)
         SELECT 'ns', 'u1', '${prefix}' || n, 1, 0, 'active', '{}', n, n, n, '{}' FROM generate_series(1, ${count}) AS n`,
      );
    const client = await admin.connect();
    try {
      const key = "namespace = $1 AND user_id = $2 AND id = $3";
      await client.query(
        `PREPARE keyed_get(text, text, text, bigint) AS SELECT header FROM "${schema}".sessions WHERE ${key} AND (expires_at IS NULL OR expires_at > $4)`,
      );
      await client.query(
        `PREPARE keyed_update(text, text, text, bigint) AS UPDATE "${schema}".sessions SET header = header WHERE ${key} AND version = 1 AND (expires_at IS NULL OR expires_at > $4)`,
      );
      await client.query(
        `PREPARE owner_list(text, text) AS SELECT header FROM "${schema}".sessions WHERE namespace = $1 AND ${LISTED} AND user_id = $2
         ORDER BY updated_at DESC, user_id DESC, id DESC LIMIT 21`,
      );
      // A new table: the plans a pooled connection settles on (generic after five runs) are made now.
      await fill("small", 20);
      for (let run = 0; run < 8; run++) {
        await client.query(`EXECUTE keyed_get('ns', 'u1', 'small${run + 1}', 0)`);
        await client.query(`EXECUTE keyed_update('ns', 'u1', 'small${run + 1}', 0)`);
        await client.query(`EXECUTE owner_list('ns', 'u1')`);
      }
      // Then the owner (and the namespace) grows to 10,000 sessions before any ANALYZE.
      await fill("s", 10_000);
      const planOf = async (execute: string): Promise<string> =>
        JSON.stringify((await client.query(`EXPLAIN (FORMAT JSON) EXECUTE ${execute}`)).rows[0]);
      expect(await planOf("keyed_get('ns', 'u1', 's5000', 0)")).toContain('"Index Name":"sessions_key"');
      expect(await planOf("keyed_update('ns', 'u1', 's5000', 0)")).toContain('"Index Name":"sessions_key"');
      // The list states LISTED, so the partial list indexes serve it.
      expect(await planOf("owner_list('ns', 'u1')")).toMatch(/"Index Name":"sessions_\w+_listed"/);
    } finally {
      client.release();
    }
  });

  it("the text filter is a literal, case-insensitive substring whatever the database locale", async () => {
    const store = open({ schema: newSchema() });
    const titles = ["100% done_ok", "1000 donexok", "ÉCOLE Straße", null];
    for (const [i, title] of titles.entries()) {
      const key = { namespace: "ns", userId: "u1", id: `s${i}` };
      await store.commit({
        key,
        expectedVersion: 0,
        header: { ...headerFor(key, 1, 0), title, purpose: i === 3 ? "Plain PURPOSE" : null },
        events: [],
        now: NOW,
      });
    }
    const find = async (text: string) =>
      (await store.list({ namespace: "ns", text, orderBy: "createdAt", order: "asc", limit: 10, now: NOW })).items.map(
        (header) => header.id,
      );
    expect(await find("0% DONE_")).toEqual(["s0"]);
    expect(await find("_")).toEqual(["s0"]);
    expect(await find("école")).toEqual(["s2"]);
    expect(await find("purpose")).toEqual(["s3"]);
    expect(await find("\\")).toEqual([]);
  });

  it("a LISTEN/NOTIFY hint reaches a subscriber on a second store instance", async () => {
    const schema = newSchema();
    const writer = open({ schema });
    const reader = open({ schema });
    const key = { namespace: "ns", userId: "u1", id: "live" };
    const hints: number[] = [];
    const unsubscribe = await reader.subscribe(key, (lastSeq) => hints.push(lastSeq));
    await writer.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, 1, 2),
      events: [eventOf(1), eventOf(2)],
      now: NOW,
    });
    await waitFor(() => hints.includes(2));

    const other: number[] = [];
    await reader.subscribe({ ...key, userId: "u2" }, (lastSeq) => other.push(lastSeq));
    await writer.commit({ key, expectedVersion: 1, header: headerFor(key, 2, 3), events: [eventOf(3)], now: NOW });
    await waitFor(() => hints.includes(3));
    expect(other).toEqual([]);

    await unsubscribe();
    await writer.delete(key);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(hints).not.toContain(0);
  });

  it("the LISTEN connection reconnects by itself and catches up on what it missed", async () => {
    const schema = newSchema();
    const writer = open({ schema });
    const reader = open({ schema, logger: { warn: () => undefined } });
    const key = { namespace: "ns", userId: "u1", id: "reconnect" };
    const hints: number[] = [];
    await reader.subscribe(key, (lastSeq) => hints.push(lastSeq));
    await writer.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 1), events: [eventOf(1)], now: NOW });
    await waitFor(() => hints.includes(1));

    const terminated = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1", [
      `LISTEN "frontdesk:${schema}"`,
    ]);
    expect(terminated.rowCount).toBe(1);
    await writer.commit({ key, expectedVersion: 1, header: headerFor(key, 2, 2), events: [eventOf(2)], now: NOW });
    await waitFor(() => hints.includes(2));
    const listening = await admin.query("SELECT 1 FROM pg_stat_activity WHERE query = $1", [
      `LISTEN "frontdesk:${schema}"`,
    ]);
    expect(listening.rowCount).toBe(1);
    await writer.commit({ key, expectedVersion: 2, header: headerFor(key, 3, 3), events: [eventOf(3)], now: NOW });
    await waitFor(() => hints.includes(3));
  });

  it("an outage fails calls fast with unavailable, and the store recovers by itself, subscriptions included", async () => {
    const proxy = await startProxy(new URL(connection));
    try {
      const schema = newSchema();
      const store = open({ url: proxy.url, schema, connectionTimeoutMs: 500, logger: { warn: () => undefined } });
      const writer = open({ schema });
      const key = { namespace: "ns", userId: "u1", id: "outage" };
      const hints: number[] = [];
      await store.subscribe(key, (lastSeq) => hints.push(lastSeq));
      await store.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 1), events: [eventOf(1)], now: NOW });

      proxy.cut();
      const started = Date.now();
      const error = await caught(store.get(key, NOW));
      expect(isFrontdeskError(error, "unavailable")).toBe(true);
      expect(Date.now() - started).toBeLessThan(2000);
      // Committed elsewhere while this instance is cut off: its hint is lost on the way.
      await writer.commit({ key, expectedVersion: 1, header: headerFor(key, 2, 2), events: [eventOf(2)], now: NOW });

      proxy.restore();
      await waitFor(() => hints.includes(2), 10_000);
      expect((await store.get(key, NOW))?.version).toBe(2);
      await store.commit({ key, expectedVersion: 2, header: headerFor(key, 3, 3), events: [eventOf(3)], now: NOW });
      expect((await writer.readEvents(key, {})).map((event) => event.seq)).toEqual([1, 2, 3]);
    } finally {
      await Promise.all(opened.map((store) => store.close()));
      opened = [];
      await proxy.close();
    }
  }, 20_000);

  it("an idle connection killed by the server never crashes the process, and the next call succeeds", async () => {
    const warnings: Record<string, unknown>[] = [];
    const schema = newSchema();
    const store = open({ schema, logger: { warn: (details) => warnings.push(details) } });
    expect(await store.count("ns", "u1", NOW)).toBe(0);
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'frontdesk' AND query LIKE $1",
      [`%"${schema}"%`],
    );
    await waitFor(() => warnings.length > 0);
    expect(await store.count("ns", "u1", NOW)).toBe(0);
  });

  it("warns at startup, naming the setting, when synchronous_commit is off", async () => {
    const warnings: { details: Record<string, unknown>; message: string }[] = [];
    const off = new URL(connection);
    off.searchParams.set("options", "-c synchronous_commit=off");
    const store = open({
      url: off.href,
      schema: newSchema(),
      logger: { warn: (details, message) => warnings.push({ details, message }) },
    });
    await store.count("ns", "u1", NOW);
    await store.count("ns", "u1", NOW);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.details.setting).toBe("synchronous_commit");
    expect(warnings[0]?.message).toContain("synchronous_commit");

    const quiet: unknown[] = [];
    const normal = open({ schema: newSchema(), logger: { warn: (details) => quiet.push(details) } });
    await normal.count("ns", "u1", NOW);
    expect(quiet).toEqual([]);
  });

  it("never ends a pool the caller passed in", async () => {
    const pool = new pg.Pool({ connectionString: connection, max: 2 });
    try {
      const store = createPostgresStore({ pool, schema: newSchema() });
      const key = { namespace: "ns", userId: "u1", id: "s" };
      const hints: number[] = [];
      await store.subscribe(key, (lastSeq) => hints.push(lastSeq));
      await store.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 0), events: [], now: NOW });
      await store.close();
      await store.close();
      expect((await pool.query("SELECT 1 AS one")).rows[0].one).toBe(1);
      expect(pool.listenerCount("error")).toBe(0);
    } finally {
      await pool.end();
    }
  });

  it("opens from postgres:// and postgresql:// URLs with ?schema=", async () => {
    const schema = newSchema();
    for (const protocol of ["postgres:", "postgresql:"]) {
      const target = new URL(connection);
      target.searchParams.set("schema", schema);
      const store = openFromUrl(new URL(target.href.replace(/^[a-z]+:/, protocol)), {});
      opened.push(store);
      expect(await store.count("ns", "u1", NOW)).toBe(0);
    }
    const { rows } = await admin.query("SELECT to_regnamespace($1) IS NOT NULL AS found", [`"${schema}"`]);
    expect(rows[0].found).toBe(true);
  });

  it("rejects a schema name that is not a plain identifier", () => {
    for (const schema of ['a"; DROP TABLE x; --', "1abc", "", "a".repeat(64)]) {
      let error: unknown;
      try {
        createPostgresStore({ url: connection, schema });
      } catch (thrown) {
        error = thrown;
      }
      expect(isFrontdeskError(error, "invalid_request")).toBe(true);
    }
  });

  it("fails every call after close with unavailable", async () => {
    const store = open({ schema: newSchema() });
    await store.count("ns", "u1", NOW);
    await store.close();
    expect(isFrontdeskError(await caught(store.count("ns", "u1", NOW)), "unavailable")).toBe(true);
  });
});
