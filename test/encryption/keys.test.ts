import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { isFrontdeskError } from "../../src/core/errors.ts";
import type { SessionKey } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { encryptedStore } from "../../src/encryption/encrypted-store.ts";
import { type KeyRing, memoryKeyRing } from "../../src/encryption/key-ring.ts";
import { envMasterKeys, fileMasterKeys, parseMasterKeys, staticMasterKeys } from "../../src/encryption/master-keys.ts";
import { rotateMasterKey } from "../../src/encryption/rotate.ts";
import { sqliteKeyRing } from "../../src/encryption/sqlite-key-ring.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { customEvent, sessionHeader } from "../../src/testing/conformance/records.ts";
import { keyRingEntry } from "./key-ring-support.ts";

const key64 = (): string => randomBytes(32).toString("base64");

const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (error) {
    if (isFrontdeskError(error)) return error.code;
    throw error;
  }
  return "resolved";
};
const syncCodeOf = (work: () => unknown): string => {
  try {
    work();
  } catch (error) {
    if (isFrontdeskError(error)) return error.code;
    throw error;
  }
  return "returned";
};

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "fd-keys-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("master keys", () => {
  it("the first key of id:base64 entries is current, and every configured key unwraps what it wrapped", async () => {
    const [k1, k2] = [key64(), key64()];
    const old = envMasterKeys({ env: { FRONTDESK_MASTER_KEYS: `k1:${k1}` } });
    const data = randomBytes(32);
    const wrapped = await old.wrap(data);
    expect(wrapped.masterKeyId).toBe("k1");
    expect(wrapped.wrapped.includes(data)).toBe(false);

    const rotated = envMasterKeys({ variable: "KEYS", env: { KEYS: ` k2:${k2} ,\n k1:${k1} ` } });
    expect(rotated.currentKeyId()).toBe("k2");
    expect(await rotated.unwrap("k1", wrapped.wrapped)).toEqual(data);
    expect((await rotated.wrap(data)).masterKeyId).toBe("k2");
  });

  it("a key that is missing, malformed or of the wrong size is refused, and the error never shows key material", () => {
    const short = randomBytes(16).toString("base64");
    for (const text of [
      "",
      "k1",
      `k1:${short}`,
      `bad id:${key64()}`,
      `k1:${key64()},k1:${key64()}`,
      "k1:not base64!",
    ]) {
      try {
        parseMasterKeys(text, "test");
        expect.unreachable(text);
      } catch (error) {
        expect(isFrontdeskError(error, "invalid_request")).toBe(true);
        expect((error as Error).message).not.toContain(short);
      }
    }
    expect(syncCodeOf(() => envMasterKeys({ env: {} }))).toBe("invalid_request");
  });

  it("unwrapping with a key that is not configured, or not the same key, is unavailable", async () => {
    const provider = staticMasterKeys([{ id: "k1", key: randomBytes(32) }]);
    const { wrapped } = await provider.wrap(randomBytes(32));
    expect(await codeOf(provider.unwrap("k0", wrapped))).toBe("unavailable");
    const impostor = staticMasterKeys([{ id: "k1", key: randomBytes(32) }]);
    expect(await codeOf(impostor.unwrap("k1", wrapped))).toBe("unavailable");
  });

  it("a key file readable by group or others is refused unless allowed; comments and one key per line are fine", async () => {
    const file = join(dir, "master.keys");
    writeFileSync(file, `# rotated 2026-01\nk2:${key64()}\nk1:${key64()} # old\n`);
    chmodSync(file, 0o644);
    expect(syncCodeOf(() => fileMasterKeys(file))).toBe("invalid_request");
    expect(fileMasterKeys(file, { allowInsecurePermissions: true }).currentKeyId()).toBe("k2");
    chmodSync(file, 0o600);
    expect(fileMasterKeys(file).currentKeyId()).toBe("k2");
    expect(syncCodeOf(() => fileMasterKeys(join(dir, "missing")))).toBe("invalid_request");
  });
});

const entry = keyRingEntry;

describe.each([
  ["memory", () => memoryKeyRing()],
  ["sqlite", () => sqliteKeyRing(join(dir, "ring", "keyring.db"))],
])("%s key ring", (_name, open: () => KeyRing) => {
  let ring: KeyRing;
  beforeEach(() => {
    ring = open();
  });
  afterEach(async () => {
    await ring.close();
  });

  it("put keeps the first key of an owner and returns it to every later put", async () => {
    const first = entry();
    expect(await ring.put(first)).toEqual(first);
    expect(await ring.put(entry())).toEqual(first);
    expect(await ring.get("ns", "u1")).toEqual(first);
    expect(await ring.get("ns", "u2")).toBeUndefined();
    const namespaceKey = entry({ userId: null });
    expect(await ring.put(namespaceKey)).toEqual(namespaceKey);
    expect(await ring.get("ns", null)).toEqual(namespaceKey);
  });

  it("rewrap replaces only the same data key, so a forgotten key never comes back", async () => {
    const first = await ring.put(entry());
    const rewrapped = { ...first, masterKeyId: "k2", wrapped: randomBytes(60) };
    expect(await ring.rewrap(rewrapped)).toBe(true);
    expect(await ring.get("ns", "u1")).toEqual(rewrapped);
    expect(await ring.delete("ns", "u1")).toBe(true);
    expect(await ring.rewrap(rewrapped)).toBe(false);
    expect(await ring.get("ns", "u1")).toBeUndefined();
    expect(await ring.delete("ns", "u1")).toBe(false);
  });

  it("entries walks every key, across pages, while keys are rewrapped", async () => {
    for (let i = 0; i < 300; i++) await ring.put(entry({ userId: `u${i}` }));
    const seen = new Set<string>();
    for await (const each of ring.entries()) {
      seen.add(each.userId as string);
      await ring.rewrap({ ...each, masterKeyId: "k2" });
    }
    expect(seen.size).toBe(300);
  });
});

describe("sqlite key ring files", () => {
  it("is readable by its owner only, and a deleted key's wrapping is in neither the file nor its WAL", async () => {
    const path = join(dir, "keyring.db");
    const ring = sqliteKeyRing(path);
    const doomed = entry({ wrapped: randomBytes(60) });
    await ring.put(doomed);
    for (let i = 0; i < 50; i++) await ring.put(entry({ userId: `other${i}` }));
    expect(statSync(path).mode & 0o077).toBe(0);
    const bytes = () => Buffer.concat([path, `${path}-wal`].filter(existsSync).map((file) => readFileSync(file)));
    expect(bytes().includes(doomed.wrapped)).toBe(true);
    await ring.delete("ns", "u1");
    expect(bytes().includes(doomed.wrapped)).toBe(false);
    expect(await ring.get("ns", "other7")).toBeDefined();
    await ring.close();
  });
});

describe("master key rotation", () => {
  it("rewraps every data key without rewriting an event; with the old master key removed, everything still reads", async () => {
    const clock = new FakeClock();
    const [k1, k2] = [key64(), key64()];
    const inner = createMemoryStore();
    const keyRing = sqliteKeyRing(join(dir, "keyring.db"));
    const before = envMasterKeys({ env: { FRONTDESK_MASTER_KEYS: `k1:${k1}` } });
    const manager = new SessionManager(() => ({}), encryptedStore(inner, { masterKeys: before, keyRing }), "ns", {
      clock,
    });
    for (const userId of ["u1", "u2", "u3"]) {
      const sessions = manager.forUser(userId);
      await sessions.create({ sessionId: "s", state: { secret: userId }, metadata: { m: userId } });
      await sessions.addMessage("s", { role: "user", content: `hello from ${userId}`, stateDelta: { "app:x": 1 } });
    }
    const rawEvents = async () =>
      Promise.all(["u1", "u2", "u3"].map((userId) => inner.readEvents({ namespace: "ns", userId, id: "s" }, {})));
    const stored = await rawEvents();

    const both = envMasterKeys({ env: { FRONTDESK_MASTER_KEYS: `k2:${k2},k1:${k1}` } });
    const result = await rotateMasterKey(keyRing, both);
    expect(result).toMatchObject({ rewrapped: 4, current: 0, gone: 0 }); // three users and the namespace key
    for await (const each of keyRing.entries()) expect(each.masterKeyId).toBe("k2");
    expect(await rawEvents()).toEqual(stored);
    expect(await rotateMasterKey(keyRing, both)).toMatchObject({ rewrapped: 0, current: 4 });

    const after = envMasterKeys({ env: { FRONTDESK_MASTER_KEYS: `k2:${k2}` } });
    const reader = new SessionManager(() => ({}), encryptedStore(inner, { masterKeys: after, keyRing }), "ns", {
      clock,
    });
    for (const userId of ["u1", "u2", "u3"]) {
      const sessions = reader.forUser(userId);
      expect((await sessions.get("s")).state).toEqual({ secret: userId, "app:x": 1 });
      const messages = (await sessions.readEvents("s")).filter((e) => e.type === "message");
      expect(messages.map((e) => (e.type === "message" ? e.content : null))).toEqual([`hello from ${userId}`]);
    }
    // Without rotation the old key would have been needed: a provider missing it cannot open a k1 wrapping.
    const unrotated = memoryKeyRing();
    const store = encryptedStore(createMemoryStore(), { masterKeys: before, keyRing: unrotated });
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "s" };
    const now = clock.now();
    await store.commit({
      key,
      expectedVersion: 0,
      header: sessionHeader(key, now, { lastSeq: 1 }),
      events: [customEvent(1, now)],
      now,
    });
    const stale = await unrotated.get("ns", "u1");
    expect(await codeOf(after.unwrap("k1", stale?.wrapped as Buffer))).toBe("unavailable");
    await keyRing.close();
  });
});
