/**
 * The Redis store's `waitReplicas` option against a real replica: a child `redis-server` that
 * replicates the test Redis. Freezing that process (SIGSTOP) makes its acknowledgements stop while
 * its link stays up, which is exactly a replica that has not caught up when the master fails.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { type FrontdeskError, isFrontdeskError } from "../../src/core/errors.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createRedisStore, openFromUrl, type RedisStoreOptions } from "../../src/stores/redis/index.ts";
import { createKeyspace } from "../../src/stores/redis/keys.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { REDIS, uniquePrefix } from "../support/backends.ts";

const url = REDIS.url;

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

/** The failure of `promise`, which must fail. */
const failureOf = async (promise: Promise<unknown>): Promise<FrontdeskError> => {
  try {
    await promise;
  } catch (error) {
    if (isFrontdeskError(error)) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
};

describe.skipIf(!url)("redis store: waiting for replicas (WAIT)", () => {
  let admin: Redis;
  let replica: Redis;
  let replicaProcess: ChildProcess;
  let replicaPort: number;
  let replicaDir: string;
  const prefixes: string[] = [];
  const opened: SessionStore[] = [];

  const open = (prefix: string, options: RedisStoreOptions = {}): SessionStore => {
    const store = createRedisStore({ url, keyPrefix: prefix, logger: { warn: () => undefined }, ...options });
    opened.push(store);
    return store;
  };
  const newPrefix = (): string => {
    const prefix = uniquePrefix("wait");
    prefixes.push(prefix);
    return prefix;
  };
  const managerOn = (store: SessionStore) =>
    new SessionManager(() => ({}), store, "ns", { clock: new FakeClock(), defaultTtlMs: 60_000 });

  /** This replica's line in the master's INFO replication, e.g. `state=online,offset=…`. */
  const replicaState = async (): Promise<string | undefined> => {
    const info = await admin.info("replication");
    return info.split("\n").find((line) => line.includes(`port=${replicaPort},`));
  };
  const waitUntilOnline = async (): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if ((await replicaState())?.includes("state=online")) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`the replica on port ${replicaPort} did not come online: ${await replicaState()}`);
  };
  const waitCalls = async (): Promise<number> => {
    const line = (await admin.info("commandstats")).split("\n").find((l) => l.startsWith("cmdstat_wait:"));
    return line ? Number(/calls=(\d+)/.exec(line)?.[1]) : 0;
  };

  beforeAll(async () => {
    const master = new URL(url as string);
    admin = new Redis(url as string);
    replicaPort = await freePort();
    replicaDir = await mkdtemp(path.join(tmpdir(), "frontdesk-replica-"));
    const args = ["--port", String(replicaPort), "--bind", "127.0.0.1", "--dir", replicaDir];
    args.push("--replicaof", master.hostname || "127.0.0.1", master.port || "6379");
    args.push("--save", "", "--appendonly", "no", "--daemonize", "no");
    if (master.password) args.push("--masterauth", decodeURIComponent(master.password));
    replicaProcess = spawn("redis-server", args, { stdio: "ignore" });
    await waitUntilOnline();
    replica = new Redis({ host: "127.0.0.1", port: replicaPort });
  }, 30_000);

  afterEach(async () => {
    replicaProcess.kill("SIGCONT"); // never leave it frozen for the next case
    for (const store of opened.splice(0)) await store.close();
  });

  afterAll(async () => {
    await replica?.quit();
    if (replicaProcess && replicaProcess.exitCode === null) {
      const exited = new Promise((resolve) => replicaProcess.once("exit", resolve));
      replicaProcess.kill("SIGTERM");
      await exited;
    }
    for (const prefix of prefixes) await REDIS.cleanup(url as string, prefix);
    await admin?.quit();
    if (replicaDir) await rm(replicaDir, { recursive: true, force: true });
  }, 20_000);

  it("resolves commits, appends and deletes once the replica has them (URL parameters)", async () => {
    const prefix = newPrefix();
    const store = openFromUrl(new URL(`${url}?prefix=${prefix}&waitReplicas=1&waitTimeoutMs=2000`), {
      logger: { warn: () => undefined },
    });
    opened.push(store);
    const sessions = managerOn(store);
    const before = await waitCalls();
    const { id } = await sessions.create();
    await sessions.appendEvents(id, [{ type: "custom", name: "one" }]);
    await sessions.appendEvents(id, [{ type: "custom", name: "two" }], { idempotencyKey: "k2" });
    // A state change goes through a commit, not the one-step append.
    await sessions.appendEvents(id, [{ type: "custom", name: "three", stateDelta: { step: 3 } }]);
    expect(await waitCalls()).toBeGreaterThanOrEqual(before + 4);

    const k = createKeyspace(prefix).session({ namespace: "ns", userId: null, id });
    // No polling: the store resolved only after the replica acknowledged, so the replica holds it now.
    expect(await replica.lrange(k.events, 0, -1)).toEqual(await admin.lrange(k.events, 0, -1));
    expect(await replica.llen(k.events)).toBe(3);
    expect(await replica.hget(k.header, "v")).toBe(await admin.hget(k.header, "v"));
    expect(await replica.hexists(k.idempotency, "k2")).toBe(1);

    await sessions.delete(id);
    expect(await replica.exists(k.header, k.events, k.idempotency)).toBe(0);
  });

  it("answers outcome unknown when the replica does not acknowledge, and a retry with the same key replays", async () => {
    const prefix = newPrefix();
    const store = open(prefix, { waitReplicas: 1, waitTimeoutMs: 200 });
    const sessions = managerOn(store);
    const { id } = await sessions.create();
    await sessions.appendEvents(id, [{ type: "custom", name: "before" }]);
    const k = createKeyspace(prefix).session({ namespace: "ns", userId: null, id });
    const message = { type: "custom", name: "maybe-lost" };

    replicaProcess.kill("SIGSTOP");
    const failure = await failureOf(sessions.appendEvents(id, [message], { idempotencyKey: "retry-me" }));
    expect(failure.code).toBe("unavailable");
    expect(failure.details).toEqual({ outcome: "unknown", replicasAcknowledged: 0, replicasRequired: 1 });
    // Not failed: the master has the event (the outcome is unknown, not negative).
    const onMaster = (await admin.lrange(k.events, 0, -1)).map((event) => JSON.parse(event).name);
    expect(onMaster).toEqual(["before", "maybe-lost"]);

    // Another instance (its own connection, which wrote nothing) must not answer a replay from a
    // record the replicas may not have: it confirms the record first, and fails the same way.
    // (Redis 7.0 also makes a WAIT cover what was replicated before the connection's last command,
    // so this holds there even without the store's barrier write; WAIT's documented promise is
    // only the connection's own writes, which is why the store publishes the barrier.)
    const other = managerOn(open(prefix, { waitReplicas: 1, waitTimeoutMs: 200 }));
    const elsewhere = await failureOf(other.appendEvents(id, [message], { idempotencyKey: "retry-me" }));
    expect(elsewhere.details?.outcome).toBe("unknown");

    replicaProcess.kill("SIGCONT");
    await waitUntilOnline();
    const retried = await sessions.appendEvents(id, [message], { idempotencyKey: "retry-me" });
    expect(retried.replayed).toBe(true);
    expect(retried.events.map((event) => event.seq)).toEqual([2]);
    const events = await sessions.readEvents(id);
    expect(events.map((event) => (event as { name?: string }).name)).toEqual(["before", "maybe-lost"]);
    expect(await replica.llen(k.events)).toBe(2);
  });

  it("a commit and a delete that time out are outcome unknown too; a delete that removed nothing is not", async () => {
    const prefix = newPrefix();
    const sessions = managerOn(open(prefix, { waitReplicas: 1, waitTimeoutMs: 200 }));
    const { id } = await sessions.create();
    replicaProcess.kill("SIGSTOP");
    const commitFailure = await failureOf(
      sessions.appendEvents(id, [{ type: "custom", name: "c", stateDelta: { a: 1 } }]),
    );
    expect(commitFailure.details?.outcome).toBe("unknown");
    const deleteFailure = await failureOf(sessions.delete(id));
    expect(deleteFailure.details?.outcome).toBe("unknown");
    expect(await admin.exists(createKeyspace(prefix).session({ namespace: "ns", userId: null, id }).header)).toBe(0);
    // Nothing to lose: no write, so no error even with the replica frozen.
    expect(await sessions.delete(id)).toBe(false);
  });

  it("sends no WAIT without waitReplicas", async () => {
    const sessions = managerOn(open(newPrefix()));
    const before = await waitCalls();
    const { id } = await sessions.create();
    await sessions.appendEvents(id, [{ type: "custom", name: "one" }], { idempotencyKey: "a" });
    await sessions.appendEvents(id, [{ type: "custom", name: "one" }], { idempotencyKey: "a" });
    await sessions.appendEvents(id, [{ type: "custom", name: "two", stateDelta: { b: 2 } }]);
    await sessions.delete(id);
    expect(await waitCalls()).toBe(before);
  });

  it("refuses settings WAIT cannot honour, without quoting the URL", () => {
    expect(() => createRedisStore({ url, waitReplicas: 1, waitTimeoutMs: 5_000, commandTimeoutMs: 5_000 })).toThrow(
      /waitTimeoutMs/,
    );
    expect(() => createRedisStore({ url, waitReplicas: 1, waitTimeoutMs: 0 })).toThrow(/waitTimeoutMs/);
    expect(() => createRedisStore({ url, waitReplicas: -1 })).toThrow(/waitReplicas/);
    // A short command timeout alone does not clash with the WAIT default.
    expect(() => createRedisStore({ url, commandTimeoutMs: 100 })).not.toThrow();
    const secret = new URL("redis://user:s3cret@127.0.0.1:6379/?waitReplicas=one");
    const failure = (() => {
      try {
        openFromUrl(secret, {});
      } catch (error) {
        return error as FrontdeskError;
      }
      throw new Error("expected openFromUrl to refuse");
    })();
    expect(failure.code).toBe("invalid_request");
    expect(failure.message).toMatch(/waitReplicas/);
    expect(failure.message).not.toContain("s3cret");
  });
});
