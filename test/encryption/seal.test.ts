import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { isFrontdeskError } from "../../src/core/errors.ts";
import type { SessionKey } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { encryptedStore } from "../../src/encryption/encrypted-store.ts";
import { memoryKeyRing } from "../../src/encryption/key-ring.ts";
import { staticMasterKeys } from "../../src/encryption/master-keys.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { sessionHeader } from "../../src/testing/conformance/records.ts";

const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (error) {
    if (isFrontdeskError(error)) return `${error.code}:${String(error.details?.reason)}`;
    throw error;
  }
  return "resolved";
};

const setup = () => {
  const clock = new FakeClock();
  const inner = createMemoryStore();
  const store = encryptedStore(inner, {
    masterKeys: staticMasterKeys([{ id: "k1", key: randomBytes(32) }]),
    keyRing: memoryKeyRing(),
    clock,
  });
  const manager = new SessionManager(() => ({}), store, "ns", { clock });
  /** Writes a header straight into the store under the encryption, as an attacker with write access would. */
  const plant = async (key: SessionKey, state: Record<string, string>) => {
    const now = clock.now();
    await inner.commit({ key, expectedVersion: 0, header: sessionHeader(key, now, { state }), events: [], now });
  };
  return { clock, inner, store, manager, plant };
};

describe("sealed values", () => {
  it("are bound to their place: moved to another session, field or user, they do not open", async () => {
    const { inner, store, manager, plant, clock } = setup();
    const s1: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };
    await manager.forUser("u1").create({ sessionId: "s1", state: { secret: "one", other: "two" } });
    await manager.forUser("u2").create({ sessionId: "s9", state: { mine: "u2" } });
    const sealed = (await inner.get(s1, clock.now()))?.state.secret as string;
    expect(sealed).toMatch(/^fd:enc:1:[\w-]+:[\w-]+$/);

    // Another session of the same user (same data key): the AAD names the session.
    await plant({ ...s1, id: "s2" }, { secret: sealed });
    expect(await codeOf(store.get({ ...s1, id: "s2" }, clock.now()))).toBe("internal:integrity");
    // Another field of the same session: the AAD names the field.
    await plant({ ...s1, id: "s3" }, { other: sealed });
    expect(await codeOf(store.get({ ...s1, id: "s3" }, clock.now()))).toBe("internal:integrity");
    // Another user's session: that user's key is not the one it names.
    await plant({ ...s1, userId: "u2", id: "s1" }, { secret: sealed });
    expect(await codeOf(store.get({ ...s1, userId: "u2" }, clock.now()))).toBe("not_found:data_key_destroyed");
    // A flipped byte.
    const flipped = `${sealed.slice(0, -2)}${sealed.endsWith("A") ? "B" : "A"}${sealed.slice(-1)}`;
    await plant({ ...s1, id: "s4" }, { secret: flipped });
    expect(await codeOf(store.get({ ...s1, id: "s4" }, clock.now()))).toBe("internal:integrity");
  });

  it("plaintext written before encryption reads through unchanged, beside sealed values", async () => {
    const { inner, manager, clock } = setup();
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "legacy" };
    const plain = new SessionManager(() => ({}), inner, "ns", { clock }).forUser("u1");
    await plain.create({ sessionId: "legacy", state: { old: "plain" }, metadata: { m: 1 } });
    await plain.addMessage("legacy", { role: "user", content: "written in the clear" });
    const sessions = manager.forUser("u1");
    await sessions.addMessage("legacy", { role: "assistant", content: "sealed reply", stateDelta: { fresh: "x" } });
    const events = await sessions.readEvents("legacy");
    expect(events.map((e) => (e.type === "message" ? e.content : e.type))).toEqual([
      "state",
      "written in the clear",
      "sealed reply",
    ]);
    expect((await sessions.get("legacy")).state).toEqual({ old: "plain", fresh: "x" });
    // The header is rewritten whole on every commit: its old plaintext values are sealed with it.
    const raw = await inner.get(key, clock.now());
    expect(Object.values(raw?.state ?? {}).every((value) => String(value).startsWith("fd:enc:1:"))).toBe(true);
    expect(JSON.stringify(await inner.readEvents(key, { after: 2 }))).not.toContain("sealed reply");
  });

  it("a value that looks sealed but was written by a caller is sealed like any other and reads back as written", async () => {
    const { manager } = setup();
    const sessions = manager.forUser("u1");
    const lookalike = "fd:enc:1:abc:def";
    await sessions.create({ sessionId: "s", state: { v: lookalike } });
    await sessions.addMessage("s", { role: "user", content: lookalike, sealed: lookalike } as never);
    expect((await sessions.get("s")).state).toEqual({ v: lookalike });
    const [message] = (await sessions.readEvents("s")).filter((e) => e.type === "message");
    expect(message).toMatchObject({ content: lookalike, sealed: lookalike });
  });
});
