import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import type { SessionKey } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { isSealedEvent } from "../../src/encryption/codec.ts";
import { type EncryptInPlaceProgress, encryptInPlace } from "../../src/encryption/encrypt-in-place.ts";
import { encryptedStore } from "../../src/encryption/encrypted-store.ts";
import { type KeyRing, memoryKeyRing } from "../../src/encryption/key-ring.ts";
import { type MasterKeyProvider, staticMasterKeys } from "../../src/encryption/master-keys.ts";
import { isSealed } from "../../src/encryption/seal.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { type RawStore, rawPlaces } from "./support.ts";

const NAMESPACE = "legacy";

const allValuesSealed = (values: object): boolean => Object.values(values).every((value) => isSealed(value));

for (const place of rawPlaces()) {
  describe.skipIf(!place.available)(`encrypting an existing ${place.name} store in place`, () => {
    let raw: RawStore;
    let encrypted: SessionStore;
    let masterKeys: MasterKeyProvider;
    let keyRing: KeyRing;
    const clock = new FakeClock();
    const canary = `canary${randomBytes(6).toString("hex")}`;
    const keys: SessionKey[] = [];

    beforeEach(async () => {
      raw = await place.open();
      masterKeys = staticMasterKeys([{ id: "k1", key: randomBytes(32) }]);
      keyRing = memoryKeyRing();
      encrypted = encryptedStore(raw.store, { masterKeys, keyRing, clock });
      keys.length = 0;
      // Written before encryption was turned on: plaintext everywhere.
      const plain = new SessionManager(() => ({}), raw.store, NAMESPACE, { clock });
      for (const userId of ["u1", "u2", null]) {
        const sessions = plain.forUser(userId);
        for (const [index, count] of [25, 3, 0].entries()) {
          const { id } = await sessions.create({
            state: { note: `${canary}-state-${index}` },
            metadata: { origin: `${canary}-metadata` },
            title: `t${index}`,
          });
          keys.push({ namespace: NAMESPACE, userId, id });
          for (let i = 0; i < count; i++) {
            await sessions.addMessage(id, {
              role: i % 2 === 0 ? "user" : "assistant",
              content: `${canary}-message-${i}`,
              ...(i === 1 ? { stateDelta: { "user:pref": `${canary}-user`, "app:motd": `${canary}-app` } } : {}),
            });
          }
        }
      }
      // Expired and not yet swept: sealed too.
      const { id } = await plain.forUser("u1").create({ ttlMs: 1000, state: { note: `${canary}-expired` } });
      keys.push({ namespace: NAMESPACE, userId: "u1", id });
      clock.advance(5000);
    });
    afterEach(async () => {
      await raw.cleanup();
    });

    /** Everything a reader sees, through the encrypting store (version aside: sealing bumps it). */
    const snapshot = async (store: SessionStore) =>
      Promise.all(
        keys.map(async (key) => {
          const header = await store.get(key, 0);
          return {
            state: header?.state,
            metadata: header?.metadata,
            stats: header?.stats,
            title: header?.title,
            events: await store.readEvents(key, {}),
            // Scope versions move as the scopes are sealed: their values are what must not change.
            user: (await store.readScope(NAMESPACE, "user", key.userId)).state,
          };
        }),
      ).then(async (sessions) => ({ sessions, app: (await store.readScope(NAMESPACE, "app", null)).state }));

    /** Everything as stored, unopened. */
    const stored = async () => JSON.stringify(await snapshot(raw.store));

    it("seals everything in chunks, resumes after an interruption, and reads back identical", async () => {
      const before = await snapshot(raw.store);
      expect(JSON.stringify(before)).toContain(canary);

      let reports: EncryptInPlaceProgress[] = [];
      const interrupted = encryptInPlace(encrypted, {
        namespaces: [NAMESPACE],
        chunkSize: 7,
        clock,
        onProgress: (progress) => {
          reports.push(progress);
          if (progress.commits === 3) throw new Error("interrupted");
        },
      });
      await expect(interrupted).rejects.toThrow("interrupted");
      // Part sealed, part plaintext, and all of it reads the same meanwhile.
      const partial = await stored();
      expect(partial).toContain(canary);
      expect(partial).toContain("fd:enc:1:");
      expect(await snapshot(encrypted)).toEqual(before);

      reports = [];
      const second = await encryptInPlace(encrypted, {
        namespaces: [NAMESPACE],
        chunkSize: 7,
        thorough: true,
        clock,
        onProgress: (p) => reports.push(p),
      });
      expect(second.finished).toBe(true);
      expect(second.scrub).toBe(raw.store.scrub ? "done" : "none");
      expect(second.sessionsTotal).toBe(keys.length);
      expect(second.sessionsDone).toBe(keys.length);
      expect(reports.at(-1)).toMatchObject({ namespace: NAMESPACE, sessionsDone: keys.length });

      expect(await stored()).not.toContain(canary);
      const bytes = await raw.bytes();
      // The plaintext the rewrites replaced is gone from the files too (SQLite: after the VACUUM).
      if (bytes !== undefined) expect(bytes).not.toContain(canary);
      for (const key of keys) {
        const header = await raw.store.get(key, 0);
        expect(allValuesSealed(header?.state ?? {})).toBe(true);
        expect(allValuesSealed(header?.metadata ?? {})).toBe(true);
        expect((await raw.store.readEvents(key, {})).every(isSealedEvent)).toBe(true);
      }
      for (const userId of ["u1", "u2", null]) {
        expect(allValuesSealed((await raw.store.readScope(NAMESPACE, "user", userId)).state)).toBe(true);
      }
      expect(allValuesSealed((await raw.store.readScope(NAMESPACE, "app", null)).state)).toBe(true);
      expect(await snapshot(encrypted)).toEqual(before);

      // Idempotent: a third run finds nothing to do and changes no version.
      const versions = await Promise.all(keys.map(async (key) => (await raw.store.get(key, 0))?.version));
      const third = await encryptInPlace(encrypted, { namespaces: [NAMESPACE], clock });
      expect(third).toMatchObject({ finished: true, commits: 0, events: 0, values: 0 });
      expect(await Promise.all(keys.map(async (key) => (await raw.store.get(key, 0))?.version))).toEqual(versions);
    });

    it("stops between commits when its signal is aborted, and a rerun finishes", async () => {
      const controller = new AbortController();
      const stopped = await encryptInPlace(encrypted, {
        namespaces: [NAMESPACE],
        chunkSize: 5,
        clock,
        signal: controller.signal,
        onProgress: (progress) => {
          if (progress.commits === 2) controller.abort();
        },
      });
      expect(stopped).toMatchObject({ finished: false, commits: 2 });
      const rest = await encryptInPlace(encrypted, { namespaces: [NAMESPACE], chunkSize: 5, clock });
      expect(rest.finished).toBe(true);
      expect(rest.commits).toBeGreaterThan(0);
      expect(await stored()).not.toContain(canary);
    });

    it("works beside a live writer: a chunk whose commit races a write is read again, and no write is lost", async () => {
      const [first] = keys as [SessionKey, ...SessionKey[]];
      const live = new SessionManager(() => ({}), encrypted, NAMESPACE, { clock }).forUser(first.userId);
      let raced = 0;
      // Just before three of the run's commits, a server instance writes to the same session.
      const racing: SessionStore = {
        ...raw.store,
        commit: async (commit) => {
          if (commit.rewrites && raced < 3 && commit.key.id === first.id) {
            raced++;
            await live.addMessage(first.id, { role: "user", content: `${canary}-live-${raced}` });
          }
          return raw.store.commit(commit);
        },
      };
      const inPlace = encryptedStore(racing, { masterKeys, keyRing, clock });
      const result = await encryptInPlace(inPlace, { namespaces: [NAMESPACE], chunkSize: 4, clock });
      expect(result.finished).toBe(true);
      expect(raced).toBe(3);
      const contents = (await live.readEvents(first.id)).flatMap((event) =>
        event.type === "message" ? [String(event.content)] : [],
      );
      expect(contents.filter((content) => content.includes("-live-"))).toHaveLength(3);
      expect(contents).toHaveLength(28);
      expect(await stored()).not.toContain(canary);
    });
  });
}
