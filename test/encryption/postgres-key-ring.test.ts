import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { Writable } from "node:stream";
import type pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openEncryption } from "../../src/cli/encryption.ts";
import type { CliIo } from "../../src/cli/io.ts";
import { FakeClock } from "../../src/core/clock.ts";
import { isFrontdeskError } from "../../src/core/errors.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { encryptedStore } from "../../src/encryption/encrypted-store.ts";
import { postgresKeyRing } from "../../src/encryption/index.ts";
import type { KeyRing } from "../../src/encryption/key-ring.ts";
import { envMasterKeys, staticMasterKeys } from "../../src/encryption/master-keys.ts";
import { rotateMasterKey } from "../../src/encryption/rotate.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { POSTGRES } from "../support/backends.ts";
import { KEY_RING_NAMESPACE, keyRingEntry, sqlAt } from "./key-ring-support.ts";
import { type RawStore, rawPlaces } from "./support.ts";

const URL_ = POSTGRES.url as string;
const NAMESPACE = KEY_RING_NAMESPACE;

const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (error) {
    if (isFrontdeskError(error)) return `${error.code}${error.details?.reason ? `:${error.details.reason}` : ""}`;
    throw error;
  }
  return "resolved";
};

const entry = keyRingEntry;

const key64 = (): string => randomBytes(32).toString("base64");

const sql = <T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]> =>
  sqlAt<T>(URL_, text, values);

/** A port nothing listens on: taken from the OS, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.skipIf(!POSTGRES.url)("postgres key ring", () => {
  let table: string;
  const rings: KeyRing[] = [];
  const open = (options: { schema?: string } = {}): KeyRing => {
    const ring = postgresKeyRing({ url: URL_, table, ...options });
    rings.push(ring);
    return ring;
  };
  let ring: KeyRing;
  beforeEach(() => {
    table = `fd_kr_${randomBytes(5).toString("hex")}`;
    ring = open();
  });
  afterEach(async () => {
    for (const each of rings.splice(0)) await each.close();
    await sql(`DROP TABLE IF EXISTS public."${table}"`);
  });

  it("put keeps the first key of an owner and returns it to every later put", async () => {
    const first = entry();
    expect(await ring.put(first)).toEqual(first);
    expect(await ring.put(entry())).toEqual(first);
    expect(await ring.get(NAMESPACE, "u1")).toEqual(first);
    expect(await ring.get(NAMESPACE, "u2")).toBeUndefined();
    const namespaceKey = entry({ userId: null });
    expect(await ring.put(namespaceKey)).toEqual(namespaceKey);
    expect(await ring.get(NAMESPACE, null)).toEqual(namespaceKey);
  });

  it("hosts racing on a fresh table create it once, and each owner ends with one key that every racer got", async () => {
    const hosts = [ring, open(), open(), open()];
    const owners = Array.from({ length: 20 }, (_, i) => `u${i}`);
    const results = await Promise.all(
      hosts.flatMap((host) => owners.map((userId) => host.put(entry({ userId })).then((stored) => stored))),
    );
    for (const userId of owners) {
      const stored = await ring.get(NAMESPACE, userId);
      const got = results.filter((each) => each.userId === userId);
      expect(got).toHaveLength(hosts.length);
      for (const each of got) expect(each).toEqual(stored);
    }
    const [{ count }] = (await sql<{ count: string }>(`SELECT count(*) FROM public."${table}"`)) as [{ count: string }];
    expect(Number(count)).toBe(owners.length);
  });

  it("rewrap replaces only the same data key, so a forgotten key never comes back", async () => {
    const first = await ring.put(entry());
    const rewrapped = { ...first, masterKeyId: "k2", wrapped: randomBytes(60) };
    expect(await ring.rewrap(rewrapped)).toBe(true);
    expect(await ring.get(NAMESPACE, "u1")).toEqual(rewrapped);
    expect(await ring.delete(NAMESPACE, "u1")).toBe(true);
    expect(await ring.rewrap(rewrapped)).toBe(false);
    expect(await ring.get(NAMESPACE, "u1")).toBeUndefined();
    expect(await ring.delete(NAMESPACE, "u1")).toBe(false);
    // Another host sees the deletion at once: the ring is the database, not a cache.
    expect(await open().get(NAMESPACE, "u1")).toBeUndefined();
  });

  it("entries walks every key, across pages, while keys are rewrapped", async () => {
    for (let i = 0; i < 300; i++) await ring.put(entry({ userId: `u${i}`, namespace: i % 2 ? "a" : "b" }));
    const seen = new Set<string>();
    for await (const each of ring.entries()) {
      seen.add(`${each.namespace}/${each.userId}`);
      await ring.rewrap({ ...each, masterKeyId: "k2" });
    }
    expect(seen.size).toBe(300);
    for await (const each of ring.entries()) expect(each.masterKeyId).toBe("k2");
  });

  it("keeps its table in the schema it is given, creating the schema", async () => {
    const schema = `fd_krs_${randomBytes(5).toString("hex")}`;
    try {
      const scoped = open({ schema });
      const stored = await scoped.put(entry());
      // The URL's own ?schema= and ?table= name the same table.
      const byUrl = postgresKeyRing({ url: `${URL_}?schema=${schema}&table=${table}` });
      rings.push(byUrl);
      expect(await byUrl.get(NAMESPACE, "u1")).toEqual(stored);
      expect(await ring.get(NAMESPACE, "u1")).toBeUndefined(); // the default schema's table is another one
    } finally {
      await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it("refuses a schema or table name that is not a plain identifier", () => {
    for (const options of [{ table: 'x"; DROP TABLE y; --' }, { schema: "1abc" }, { table: "" }]) {
      try {
        postgresKeyRing({ url: URL_, ...options });
        expect.unreachable(JSON.stringify(options));
      } catch (error) {
        expect(isFrontdeskError(error, "invalid_request")).toBe(true);
      }
    }
  });

  it("master-key rotation rewraps every data key in PostgreSQL; with the old master key removed, everything reads", async () => {
    const clock = new FakeClock();
    const [k1, k2] = [key64(), key64()];
    const inner = createMemoryStore();
    const before = envMasterKeys({ env: { FRONTDESK_MASTER_KEYS: `k1:${k1}` } });
    const writer = new SessionManager(() => ({}), encryptedStore(inner, { masterKeys: before, keyRing: ring }), "ns", {
      clock,
    });
    for (const userId of ["u1", "u2", "u3"]) {
      const sessions = writer.forUser(userId);
      await sessions.create({ sessionId: "s", state: { secret: userId } });
      await sessions.addMessage("s", { role: "user", content: `hello from ${userId}`, stateDelta: { "app:x": 1 } });
    }
    const both = envMasterKeys({ env: { FRONTDESK_MASTER_KEYS: `k2:${k2},k1:${k1}` } });
    expect(await rotateMasterKey(ring, both)).toMatchObject({ rewrapped: 4, current: 0, gone: 0, scrubbed: true });
    expect(await rotateMasterKey(open(), both)).toMatchObject({ rewrapped: 0, current: 4 });

    const after = envMasterKeys({ env: { FRONTDESK_MASTER_KEYS: `k2:${k2}` } });
    const reader = new SessionManager(() => ({}), encryptedStore(inner, { masterKeys: after, keyRing: open() }), "ns", {
      clock,
    });
    for (const userId of ["u1", "u2", "u3"]) {
      const sessions = reader.forUser(userId);
      expect((await sessions.get("s")).state).toEqual({ secret: userId, "app:x": 1 });
      const messages = (await sessions.readEvents("s")).filter((e) => e.type === "message");
      expect(messages.map((e) => (e.type === "message" ? e.content : null))).toEqual([`hello from ${userId}`]);
    }
  });
});

const postgresPlace = rawPlaces().find((place) => place.name === "postgres");

describe.skipIf(!POSTGRES.url)("several hosts sharing a PostgreSQL key ring over one PostgreSQL session store", () => {
  const TTL_MS = 60_000;
  let table: string;
  let raw: RawStore;
  const clock = new FakeClock();
  const masterKeys = staticMasterKeys([{ id: "k1", key: randomBytes(32) }]);
  const rings: KeyRing[] = [];
  /** One "host": its own pool to the ring, its own key cache, the shared session store. */
  const host = (store: SessionStore) => {
    const keyRing = postgresKeyRing({ url: URL_, table });
    rings.push(keyRing);
    const encrypted = encryptedStore(store, { masterKeys, keyRing, clock, keyCacheTtlMs: TTL_MS });
    return { store: encrypted, sessions: new SessionManager(() => ({}), encrypted, NAMESPACE, { clock }) };
  };
  const contentOf = async (manager: SessionManager, userId: string, id: string) =>
    (await manager.forUser(userId).readEvents(id)).flatMap((e) => (e.type === "message" ? [e.content] : []));

  beforeEach(async () => {
    table = `fd_kr_${randomBytes(5).toString("hex")}`;
    raw = await (postgresPlace as NonNullable<typeof postgresPlace>).open();
  });
  afterEach(async () => {
    for (const each of rings.splice(0)) await each.close();
    await raw.cleanup();
    await sql(`DROP TABLE IF EXISTS public."${table}"`);
  });

  it("a session written on host A reads on host B; forgetUser on A makes it unreadable on B once B's cache expires", async () => {
    const a = host(raw.store);
    const b = host(raw.store);
    await a.sessions.forUser("u1").create({ sessionId: "s1", state: { note: "u1 secret" } });
    await a.sessions.forUser("u1").addMessage("s1", { role: "user", content: "hello from A" });
    await a.sessions.forUser("u2").create({ sessionId: "s2", state: { note: "u2 secret" } });
    await a.sessions.forUser("u2").addMessage("s2", { role: "user", content: "u2 on A" });

    expect((await b.sessions.forUser("u1").get("s1")).state).toEqual({ note: "u1 secret" });
    expect(await contentOf(b.sessions, "u1", "s1")).toEqual(["hello from A"]);
    // B writes with the key A created: one key per user across hosts.
    await b.sessions.forUser("u1").addMessage("s1", { role: "user", content: "hello from B" });
    expect(await contentOf(a.sessions, "u1", "s1")).toEqual(["hello from A", "hello from B"]);

    await a.store.forgetUser?.(NAMESPACE, "u1");
    expect(await codeOf(a.sessions.forUser("u1").readEvents("s1"))).toBe("not_found:data_key_destroyed");
    // B still holds the key in its cache for up to keyCacheTtlMs: the documented window.
    expect(await contentOf(b.sessions, "u1", "s1")).toEqual(["hello from A", "hello from B"]);

    clock.advance(TTL_MS);
    expect(await codeOf(b.sessions.forUser("u1").readEvents("s1"))).toBe("not_found:data_key_destroyed");
    expect(await codeOf(b.sessions.forUser("u1").get("s1"))).toBe("not_found:data_key_destroyed");
    expect(await contentOf(b.sessions, "u2", "s2")).toEqual(["u2 on A"]);
  });

  it("a copy of the session store taken before the erasure cannot be read for the erased user", async () => {
    const a = host(raw.store);
    await a.sessions.forUser("u1").create({ sessionId: "s1", state: { note: "u1 secret" } });
    await a.sessions.forUser("u1").addMessage("s1", { role: "user", content: "u1 content" });
    await a.sessions.forUser("u2").create({ sessionId: "s2", state: { note: "u2 secret" } });
    await a.sessions.forUser("u2").addMessage("s2", { role: "user", content: "u2 content" });
    const backup = (await raw.copy()) as SessionStore;
    // The ring's table is not in the session store's schema: the copy holds no wrapped key.
    const wrapped = (await rings[0]?.get(NAMESPACE, "u1"))?.wrapped.toString("hex") as string;
    expect((await raw.bytes())?.includes(wrapped)).toBe(false);

    const erased = await a.sessions.eraseUser("u1", { by: "test" });
    expect(erased).toMatchObject({ sessions: 1 });
    expect(await sql(`SELECT 1 FROM public."${table}" WHERE owner = 'u1'`)).toEqual([]);

    // The backup restored on a fresh host, with the same master key and the shared key ring.
    const restored = host(backup);
    expect(await codeOf(restored.sessions.forUser("u1").readEvents("s1"))).toBe("not_found:data_key_destroyed");
    expect(await codeOf(restored.sessions.forUser("u1").get("s1"))).toBe("not_found:data_key_destroyed");
    expect(await contentOf(restored.sessions, "u2", "s2")).toEqual(["u2 content"]);
    expect((await restored.sessions.forUser("u2").get("s2")).state).toEqual({ note: "u2 secret" });
  });
});

describe("a PostgreSQL key ring that cannot be reached", () => {
  it("is unavailable, names no secret, and the encrypted store writes nothing", async () => {
    const port = await closedPort();
    const keyRing = postgresKeyRing({ url: `postgres://frontdesk:hunter2@127.0.0.1:${port}/keys`, table: "ring" });
    try {
      try {
        await keyRing.get(NAMESPACE, "u1");
        expect.unreachable();
      } catch (error) {
        expect(isFrontdeskError(error, "unavailable")).toBe(true);
        expect((error as Error).message).not.toContain("hunter2");
      }
      const inner = createMemoryStore();
      const clock = new FakeClock();
      const masterKeys = staticMasterKeys([{ id: "k1", key: randomBytes(32) }]);
      const sessions = new SessionManager(
        () => ({}),
        encryptedStore(inner, { masterKeys, keyRing, clock }),
        NAMESPACE,
        { clock },
      ).forUser("u1");
      expect(await codeOf(sessions.create({ sessionId: "s1", state: { note: "secret" } }))).toBe("unavailable");
      expect(await inner.get({ namespace: NAMESPACE, userId: "u1", id: "s1" }, clock.now())).toBeUndefined();
      expect(await inner.count(NAMESPACE, "u1", clock.now())).toBe(0);
    } finally {
      await keyRing.close();
    }
    expect(await codeOf(keyRing.get(NAMESPACE, "u1"))).toBe("unavailable"); // closed
  });
});

describe("FRONTDESK_KEY_RING as a postgres:// URL", () => {
  const stderr: string[] = [];
  const io = (ring: string): CliIo =>
    ({
      env: { FRONTDESK_MASTER_KEYS: `k1:${key64()}`, FRONTDESK_KEY_RING: ring },
      stdout: new Writable({ write: (_chunk, _encoding, done) => done() }),
      stderr: new Writable({
        write: (chunk, _encoding, done) => {
          stderr.push(String(chunk));
          done();
        },
      }),
    }) as CliIo;
  beforeEach(() => {
    stderr.length = 0;
  });

  it("opens a PostgreSQL key ring, described without its password", async () => {
    const setup = await openEncryption(
      io("postgresql://keys:hunter2@keys-db:5433/keys?table=ring"),
      undefined,
      "postgres://app@db/frontdesk",
    );
    try {
      expect(setup?.description).toContain("key ring postgresql://keys@keys-db:5433/keys");
      expect(setup?.description).not.toContain("hunter2");
      expect(stderr.join("")).toBe("");
    } finally {
      await setup?.keyRing.close();
    }
  });

  it("refuses the session store's own database, whatever the user, schema or loopback name", async () => {
    for (const [ring, store] of [
      ["postgres://keys:pw@db:5432/frontdesk?table=ring", "postgres://app@db/frontdesk?schema=fd"],
      ["postgresql://postgres@localhost/test", "postgres://postgres@127.0.0.1:5432/test?schema=x"],
      ["postgres://app@db", "postgres://app@db:5432/app"],
    ] as const) {
      try {
        await openEncryption(io(ring), undefined, store);
        expect.unreachable(ring);
      } catch (error) {
        expect((error as Error).message).toMatch(/must not be in the store's own database/);
        expect((error as Error).message).not.toContain("pw");
      }
    }
  });

  it("warns when the key ring is another database of the store's server (its server backups hold both)", async () => {
    const setup = await openEncryption(io("postgres://keys@db/keys"), undefined, "postgres://app@db/frontdesk");
    await setup?.keyRing.close();
    expect(stderr.join("")).toMatch(/on the store's PostgreSQL server/);
  });
});
