/** An erasure on an encrypted store scrubs the key ring too, so the destroyed key leaves its files. */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SessionManager } from "../../src/core/session-manager.ts";
import { encryptedStore, type KeyRing, memoryKeyRing, staticMasterKeys } from "../../src/encryption/index.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";

describe("erasure on an encrypted store", () => {
  it("destroys the user's key and then scrubs the key ring", async () => {
    const ring = memoryKeyRing();
    const calls: string[] = [];
    const watched: KeyRing = {
      get: (namespace, userId) => ring.get(namespace, userId),
      put: (entry) => ring.put(entry),
      delete: async (namespace, userId) => {
        calls.push(`delete ${userId}`);
        return ring.delete(namespace, userId);
      },
      rewrap: (entry) => ring.rewrap(entry),
      entries: () => ring.entries(),
      close: () => ring.close(),
      scrub: async () => {
        calls.push("scrub");
        return { pending: false };
      },
    };
    const store = encryptedStore(createMemoryStore(), {
      masterKeys: staticMasterKeys([{ id: "m1", key: randomBytes(32) }]),
      keyRing: watched,
    });
    const sessions = new SessionManager(() => ({}), store, "ns", { defaultTtlMs: null });
    await sessions.forUser("ann").create({ sessionId: "s", state: { secret: "x" } });
    const result = await sessions.eraseUser("ann");
    expect(result).toMatchObject({ sessions: 1, scrub: "done" });
    expect(calls).toEqual(["delete ann", "scrub"]);
  });
});
