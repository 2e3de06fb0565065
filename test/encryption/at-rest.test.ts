import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { isFrontdeskError } from "../../src/core/errors.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { encryptedStore } from "../../src/encryption/encrypted-store.ts";
import type { KeyRing } from "../../src/encryption/key-ring.ts";
import { type MasterKeyProvider, staticMasterKeys } from "../../src/encryption/master-keys.ts";
import { sqliteKeyRing } from "../../src/encryption/sqlite-key-ring.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { customEvent, sessionHeader } from "../../src/testing/conformance/records.ts";
import { type RawStore, rawPlaces } from "./support.ts";

const NAMESPACE = "enc";

/** A provider that can be switched off, as a KMS in an outage. */
const switchable = (inner: MasterKeyProvider) => {
  const state = { down: false };
  const provider: MasterKeyProvider = {
    currentKeyId: () => inner.currentKeyId(),
    wrap: async (key) => {
      if (state.down) throw new Error("connect ECONNREFUSED kms");
      return inner.wrap(key);
    },
    unwrap: async (id, wrapped) => {
      if (state.down) throw new Error("connect ECONNREFUSED kms");
      return inner.unwrap(id, wrapped);
    },
  };
  return { provider, state };
};

const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (error) {
    if (isFrontdeskError(error)) return `${error.code}${error.details?.reason ? `:${error.details.reason}` : ""}`;
    throw error;
  }
  return "resolved";
};

/** Writes the canary into every field that is sealed, as user `u1`, through a manager; returns what it wrote. */
async function writeCanary(manager: SessionManager, canary: string) {
  const sessions = manager.forUser("u1");
  const session = await sessions.create({
    sessionId: "s1",
    title: "a title",
    state: { note: `${canary}-state` },
    metadata: { origin: `${canary}-metadata` },
  });
  await sessions.addMessage(session.id, {
    role: "user",
    content: `${canary}-content`,
    stateDelta: { "user:profile": `${canary}-user-scope`, "app:motd": `${canary}-app-scope` },
  });
  await sessions.addMessage(session.id, {
    role: "assistant",
    content: [{ type: "text", text: `${canary}-part` }],
    usage: { inputTokens: 3, outputTokens: 4 },
  });
  await sessions.linkInvocation(session.id, {
    tool: "lookup",
    input: { query: `${canary}-input` },
    output: { answer: `${canary}-output` },
    durationMs: 5,
  });
  await sessions.appendEvents(session.id, [{ type: "custom", name: "note", data: { text: `${canary}-data` } }]);
  // The append fast path (a plain message, no state) as well as the commit path.
  await sessions.addMessage(session.id, { role: "user", content: `${canary}-fast` });
  const other = manager.forUser("u2");
  await other.create({ sessionId: "s2", state: { note: "u2-state" } });
  await other.addMessage("s2", { role: "user", content: "u2-content" });
  return { events: await sessions.readEvents("s1"), session: await sessions.get("s1") };
}

for (const place of rawPlaces()) {
  describe.skipIf(!place.available)(`encryption at rest on ${place.name}`, () => {
    let raw: RawStore;
    let ringDir: string;
    let keyRing: KeyRing;
    const clock = new FakeClock();
    const masterKeys = staticMasterKeys([{ id: "k1", key: randomBytes(32) }]);
    const opened: SessionStore[] = [];
    const encrypt = (inner: SessionStore, keys: MasterKeyProvider = masterKeys) => {
      const store = encryptedStore(inner, { masterKeys: keys, keyRing, clock });
      opened.push(store);
      return store;
    };
    const managerOn = (store: SessionStore) => new SessionManager(() => ({}), store, NAMESPACE, { clock });

    beforeEach(async () => {
      raw = await place.open();
      // The key ring lives apart from the session store: copying the store never copies it.
      ringDir = mkdtempSync(join(tmpdir(), "fd-keyring-"));
      keyRing = sqliteKeyRing(join(ringDir, "keyring.db"));
    });
    afterEach(async () => {
      await raw.cleanup();
      await keyRing.close();
      rmSync(ringDir, { recursive: true, force: true });
      opened.length = 0;
    });

    it("a canary in every sealed field is absent from the store's bytes and reads back through Frontdesk", async () => {
      const canary = `canary${randomBytes(6).toString("hex")}`;
      const control = `control${randomBytes(6).toString("hex")}`;
      const manager = managerOn(encrypt(raw.store));
      const written = await writeCanary(manager, canary);
      // The same store without encryption keeps its plaintext: proof that the bytes are the right ones.
      await new SessionManager(() => ({}), raw.store, "plain", { clock }).create({ state: { control } });

      const bytes = await raw.bytes();
      if (bytes !== undefined) {
        expect(bytes).toContain(control);
        expect(bytes).not.toContain(canary);
      }
      // What the store hands back unopened holds no canary either.
      const unopened = JSON.stringify([
        await raw.store.get({ namespace: NAMESPACE, userId: "u1", id: "s1" }, clock.now()),
        await raw.store.readEvents({ namespace: NAMESPACE, userId: "u1", id: "s1" }, {}),
        await raw.store.readScope(NAMESPACE, "user", "u1"),
        await raw.store.readScope(NAMESPACE, "app", null),
      ]);
      expect(unopened).not.toContain(canary);
      expect(unopened).toContain("fd:enc:1:");

      // A fresh instance (empty key cache) reads everything back from the key ring.
      const sessions = managerOn(encrypt(raw.store)).forUser("u1");
      const session = await sessions.get("s1");
      expect(session.state).toEqual({
        note: `${canary}-state`,
        "user:profile": `${canary}-user-scope`,
        "app:motd": `${canary}-app-scope`,
      });
      expect(session.metadata).toEqual({ origin: `${canary}-metadata` });
      expect(session.stats).toEqual(written.session.stats);
      expect(session.stats.toolsUsed).toEqual(["lookup"]);
      const events = await sessions.readEvents("s1");
      expect(events).toEqual(written.events);
      expect(JSON.stringify(events.map(({ seq, ...rest }) => rest))).toEqual(
        JSON.stringify(written.events.map(({ seq, ...rest }) => rest)),
      );
      const byType = (type: string) => events.filter((e: SessionEvent) => e.type === type);
      expect(byType("tool_result")[0]).toMatchObject({ output: { answer: `${canary}-output` }, status: "success" });
      expect((await sessions.listSessions()).items[0]?.metadata).toEqual({ origin: `${canary}-metadata` });
    });

    it("after forgetUser, a copy of the store taken before cannot be read for that user, and other users still read", async () => {
      const canary = `canary${randomBytes(6).toString("hex")}`;
      const store = encrypt(raw.store);
      await writeCanary(managerOn(store), canary);
      const backup = await raw.copy();

      await store.forgetUser?.(NAMESPACE, "u1");

      for (const target of backup ? [store, encrypt(backup)] : [store]) {
        const u1 = managerOn(target).forUser("u1");
        expect(await codeOf(u1.get("s1"))).toBe("not_found:data_key_destroyed");
        expect(await codeOf(u1.readEvents("s1"))).toBe("not_found:data_key_destroyed");
        expect(await codeOf(target.readScope(NAMESPACE, "user", "u1"))).toBe("not_found:data_key_destroyed");
        // The erasure can still find what it must delete: the list leaves the unreadable values out.
        const listed = await target.list({
          namespace: NAMESPACE,
          userId: "u1",
          orderBy: "createdAt",
          order: "asc",
          limit: 10,
          now: 0,
        });
        expect(listed.items.map((h) => [h.id, h.state, h.metadata])).toEqual([["s1", {}, {}]]);
        const u2 = managerOn(target).forUser("u2");
        const messages = (await u2.readEvents("s2")).filter((e) => e.type === "message");
        expect(messages.map((e) => (e.type === "message" ? e.content : null))).toEqual(["u2-content"]);
        expect((await u2.get("s2")).state).toEqual({ note: "u2-state", "app:motd": `${canary}-app-scope` });
      }
      // A new session of the erased user gets a new data key; the old data stays unreadable.
      const fresh = { namespace: NAMESPACE, userId: "u1", id: "s3" };
      const now = clock.now();
      await store.commit({
        key: fresh,
        expectedVersion: 0,
        header: sessionHeader(fresh, now, { state: { fresh: true }, lastSeq: 1 }),
        events: [customEvent(1, now, "new")],
        now,
      });
      expect((await store.get(fresh, now))?.state).toEqual({ fresh: true });
      expect(await store.readEvents(fresh, {})).toEqual([customEvent(1, now, "new")]);
      expect(await codeOf(store.readEvents({ ...fresh, id: "s1" }, {}))).toBe("not_found:data_key_destroyed");
    });

    it("eraseUser destroys the key first: nothing of the user is left, and a copy taken before cannot be read for them", async () => {
      const canary = `canary${randomBytes(6).toString("hex")}`;
      const store = encrypt(raw.store);
      await writeCanary(managerOn(store), canary);
      const backup = await raw.copy();

      const erased = await managerOn(store).eraseUser("u1", { by: "test" });
      expect(erased).toMatchObject({ sessions: 1, scopes: 1 });
      expect(await codeOf(managerOn(store).forUser("u1").get("s1"))).toBe("not_found");
      expect(await keyRing.get(NAMESPACE, "u1")).toBeUndefined();
      if (backup) {
        const copy = managerOn(encrypt(backup));
        expect(await codeOf(copy.forUser("u1").readEvents("s1"))).toBe("not_found:data_key_destroyed");
        expect((await copy.forUser("u2").get("s2")).state).toMatchObject({ note: "u2-state" });
      }
    });

    it("with the key provider down, writes fail with unavailable and store nothing, and reads fail with unavailable", async () => {
      const canary = `canary${randomBytes(6).toString("hex")}`;
      await managerOn(encrypt(raw.store))
        .forUser("u1")
        .create({ sessionId: "s1", state: { note: "sealed" } });
      const key = { namespace: NAMESPACE, userId: "u1", id: "s1" };
      const before = await raw.store.readEvents(key, {});
      const { provider, state } = switchable(masterKeys);
      state.down = true;
      const sessions = managerOn(encrypt(raw.store, provider)).forUser("u1");

      expect(await codeOf(sessions.addMessage("s1", { role: "user", content: canary }))).toBe("unavailable");
      expect(await codeOf(sessions.appendEvents("s1", [{ type: "custom", name: "n", data: canary }]))).toBe(
        "unavailable",
      );
      expect(await codeOf(sessions.get("s1"))).toBe("unavailable");
      const newcomer = managerOn(encrypt(raw.store, provider)).forUser("u9");
      expect(await codeOf(newcomer.create({ sessionId: "s9", state: { note: canary } }))).toBe("unavailable");

      expect(await raw.store.readEvents(key, {})).toEqual(before);
      expect(await raw.store.get({ namespace: NAMESPACE, userId: "u9", id: "s9" }, clock.now())).toBeUndefined();
      const bytes = await raw.bytes();
      if (bytes !== undefined) expect(bytes).not.toContain(canary);

      state.down = false;
      await sessions.addMessage("s1", { role: "user", content: canary });
      expect((await sessions.readEvents("s1")).length).toBe(before.length + 1);
    });
  });
}
