import assert from "node:assert/strict";
import { isFrontdeskError } from "../../core/errors.ts";
import type { SessionEvent } from "../../core/model.ts";
import { SessionManager } from "../../core/session-manager.ts";
import type { SessionStore } from "../../stores/types.ts";
import { type CaseContext, codeOf } from "./context.ts";
import type { Runner } from "./harness.ts";

/** The events of a session, as JSON text, for "is this string anywhere in it" checks. */
const textOf = async (sessions: SessionManager, id: string): Promise<string> =>
  JSON.stringify(await sessions.readEvents(id));

/** Reads `count` events from a subscription, then closes it. */
/** What the redaction case's two events held, as no id or other text can spell it by chance. */
const REDACTED_WORDS = /4111 1111|"Ann"/;

async function collect(subscription: AsyncIterable<SessionEvent> & { close(): Promise<void> }, count: number) {
  const seen: SessionEvent[] = [];
  for await (const event of subscription) {
    seen.push(event);
    if (seen.length === count) break;
  }
  await subscription.close();
  return seen;
}

/**
 * A store that fails (as a killed process would stop) once it has deleted `allowed` sessions: the
 * erasure stops between two steps, and a rerun on the real store must finish it.
 */
function crashingAfterDeletes(store: SessionStore, allowed: number): SessionStore {
  let deletes = 0;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === "delete") {
        return async (...args: Parameters<SessionStore["delete"]>) => {
          if (deletes >= allowed) throw new Error("crash: the process died here");
          deletes++;
          return target.delete(...args);
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The ids of every session of `userId`, expired ones included (`now: 0`, as erasure lists them). */
const everySessionOf = async (c: CaseContext, userId: string): Promise<string[]> =>
  (
    await c.store.list({ namespace: c.namespace, userId, orderBy: "createdAt", order: "asc", limit: 100, now: 0 })
  ).items.map((header) => header.id);

const OPENAI_KEY = "sk-proj-Abc123Def456Ghi789Jkl012Mno345Pqr678";

/** Erasure, redaction, pruning and masking through the manager, on the store under test (docs/privacy.md). */
export function privacyCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("privacy", () => {
    /** Two users with sessions, events, user: state, an idempotency record and an expired session each. */
    const seedUsers = async (c: CaseContext) => {
      const sessions = c.manager({ defaultTtlMs: null });
      for (const user of ["u1", "u2"]) {
        const mine = sessions.forUser(user);
        for (let i = 0; i < 3; i++) {
          const { id } = await mine.create({
            sessionId: `${user}-s${i}`,
            state: { "user:email": `${user}@example.org` },
          });
          await mine.addMessage(id, { role: "user", content: `secret of ${user} #${i}` });
          await mine.appendEvents(id, [{ type: "custom", name: "note", data: `more of ${user}` }], {
            idempotencyKey: `idem-${user}-${i}`,
          });
        }
        await mine.create({ sessionId: `${user}-short`, ttlMs: 1000 });
      }
      c.clock.advance(5000);
      return sessions;
    };

    it("eraseUser removes every session, event, user: state and idempotency record of one user only", async () => {
      const c = ctx();
      const sessions = await seedUsers(c);
      let held = 0;
      for (const id of ["u1-s0", "u1-s1", "u1-s2"]) held += (await sessions.forUser("u1").get(id)).lastSeq;
      const result = await sessions.eraseUser("u1", { by: "admin-key" });
      assert.equal(result.sessions, 4);
      assert.equal(result.events, held);
      assert.equal(result.scopes, 1);
      for (const id of ["u1-s0", "u1-s1", "u1-s2", "u1-short"]) {
        const key = { namespace: c.namespace, userId: "u1", id };
        assert.equal(await c.store.get(key, 0), undefined);
        assert.deepEqual(await c.store.readEvents(key, {}), []);
      }
      assert.equal(
        await c.store.findIdempotency({ namespace: c.namespace, userId: "u1", id: "u1-s0" }, "idem-u1-0"),
        undefined,
      );
      assert.deepEqual(await c.store.readScope(c.namespace, "user", "u1"), { state: {}, version: 0 });
      assert.deepEqual(await everySessionOf(c, "u1"), []);
      const other = sessions.forUser("u2");
      assert.match(await textOf(other, "u2-s1"), /secret of u2 #1/);
      assert.equal((await other.get("u2-s0")).state["user:email"], "u2@example.org");
      assert.ok(await c.store.findIdempotency({ namespace: c.namespace, userId: "u2", id: "u2-s0" }, "idem-u2-0"));

      const again = await sessions.eraseUser("u1", { by: "admin-key" });
      assert.deepEqual([again.sessions, again.events, again.scopes, again.apiKeys], [0, 0, 0, 0]);
    });

    it("the audit log records who erased which user, when, and the counts, and none of the erased data", async () => {
      const c = ctx();
      const sessions = await seedUsers(c);
      const { erasureId } = await sessions.eraseUser("u1", { by: "admin-key" });
      const log = await c.store.readEvents({ namespace: c.namespace, userId: null, id: "frontdesk.erasures" }, {});
      const records = log.filter(
        (e) => e.type === "custom" && (e.data as { erasureId?: string }).erasureId === erasureId,
      );
      assert.deepEqual(
        records.map((e) => (e.type === "custom" ? e.name : "")),
        ["frontdesk.erasure.started", "frontdesk.erasure.finished"],
      );
      const finished = records[1] as SessionEvent & { data: Record<string, unknown> };
      assert.equal(finished.data.userId, "u1");
      assert.equal(finished.data.by, "admin-key");
      assert.equal(finished.data.sessions, 4);
      assert.equal(typeof finished.at, "number");
      assert.doesNotMatch(JSON.stringify(log), /secret of u1|u1@example\.org/);
    });

    it("an erasure that crashed midway leaves no session half-erased, and the next run finishes it", async () => {
      const c = ctx();
      const sessions = await seedUsers(c);
      const crashing = new SessionManager(() => ({}), crashingAfterDeletes(c.store, 2), c.namespace, {
        clock: c.clock,
      });
      await assert.rejects(crashing.eraseUser("u1", { by: "admin-key" }), /crash/);
      // Every session is wholly there or wholly gone.
      let left = 0;
      for (const id of ["u1-s0", "u1-s1", "u1-s2", "u1-short"]) {
        const key = { namespace: c.namespace, userId: "u1", id };
        // A store that encrypts destroyed the user's key first: what is left is wholly unreadable.
        const read = await Promise.all([c.store.get(key, 0), c.store.readEvents(key, {})]).catch((error: unknown) => {
          if (isFrontdeskError(error, "not_found") && error.details?.reason === "data_key_destroyed") return undefined;
          throw error;
        });
        if (!read) {
          left++;
          continue;
        }
        const [header, events] = read;
        if (header) {
          left++;
          assert.equal(events.length, header.lastSeq);
        } else assert.deepEqual(events, []);
      }
      assert.equal(left, 2);
      const resumed = await c.manager().resumeErasures();
      assert.equal(resumed.length, 1);
      assert.equal(resumed[0]?.sessions, 2);
      assert.deepEqual(await everySessionOf(c, "u1"), []);
      assert.deepEqual(await c.store.readScope(c.namespace, "user", "u1"), { state: {}, version: 0 });
      assert.deepEqual(await c.manager().resumeErasures(), []);
      assert.match(await textOf(sessions.forUser("u2"), "u2-s0"), /secret of u2/);
    });

    it("eraseUser revokes the user's API keys only, and ends live streams of their sessions", async () => {
      const c = ctx();
      const sessions = c.manager({ defaultTtlMs: null });
      for (const [id, userId] of [
        ["k1", "u1"],
        ["k2", "u2"],
      ] as const) {
        await c.store.putApiKey({
          id,
          hash: id.repeat(32),
          prefix: id,
          userId,
          admin: false,
          label: null,
          createdAt: 1,
          revokedAt: null,
        });
      }
      const mine = sessions.forUser("u1");
      const { id } = await mine.create();
      await mine.addMessage(id, { role: "user", content: "hello" });
      const subscription = mine.subscribe(id);
      const iterator = subscription[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).value?.seq, 1);
      const ended = iterator.next();
      const result = await sessions.eraseUser("u1");
      assert.equal(result.apiKeys, 1);
      assert.equal((await ended).done, true);
      const keys = await c.store.listApiKeys();
      assert.notEqual(keys.find((k) => k.id === "k1")?.revokedAt, null);
      assert.equal(keys.find((k) => k.id === "k2")?.revokedAt, null);
    });

    it("eraseUser in one namespace leaves the same user in another namespace", async () => {
      const c = ctx();
      const here = c.manager({ defaultTtlMs: null }).forUser("u1");
      const there = c.manager({ defaultTtlMs: null, namespace: `${c.namespace}-b` }).forUser("u1");
      await here.create({ sessionId: "s" });
      await there.create({ sessionId: "s", state: { "user:name": "kept" } });
      await there.addMessage("s", { role: "user", content: "kept" });
      await c.manager().eraseUser("u1");
      assert.equal(await codeOf(here.get("s")), "not_found");
      assert.equal((await there.get("s")).state["user:name"], "kept");
    });

    it("redactEvent leaves a tombstone in one commit with a new version, and every read shows it", async () => {
      const c = ctx();
      const sessions = c.manager().forUser("u1");
      const { id } = await sessions.create();
      await sessions.addMessage(id, { role: "user", content: "my card is 4111 1111 1111 1111" });
      await sessions.linkInvocation(id, { tool: "lookup", input: { query: "card owner" }, output: { owner: "Ann" } });
      const before = await sessions.get(id);
      const subscription = sessions.subscribe(id, { after: before.lastSeq });
      const result = await sessions.redactEvent(id, 1, { reason: "card number" }, { expectedVersion: before.version });
      assert.equal(result.session.version, before.version + 1);
      const [tombstone] = result.events;
      assert.equal(tombstone?.seq, 1);
      assert.equal(tombstone?.type, "message");
      assert.deepEqual(tombstone?.redacted, { at: c.clock.now(), by: "u1", reason: "card number" });
      await sessions.redactEvent(id, 3, { reason: "owner name", by: "support" });
      const events = await sessions.readEvents(id);
      assert.deepEqual(
        events.map((e) => e.seq),
        [1, 2, 3, 4, 5],
      );
      // The card number with its spaces and the name in quotes: a random event id may hold "4111".
      assert.doesNotMatch(JSON.stringify(events), REDACTED_WORDS);
      assert.equal(events[1]?.type === "tool_call" && events[1].tool, "lookup");
      const notices = await collect(subscription, 2);
      assert.deepEqual(
        notices.map((e) => (e.type === "custom" ? [e.name, (e.data as { seqs: number[] }).seqs] : [])),
        [
          ["frontdesk.history_changed", [1]],
          ["frontdesk.history_changed", [3]],
        ],
      );
      // A replay from the start, after the redaction, never serves the old content from a cache.
      assert.doesNotMatch(JSON.stringify(await collect(sessions.subscribe(id), 5)), REDACTED_WORDS);
      const exported: string[] = [];
      for await (const line of sessions.exportSession(id)) exported.push(line);
      assert.doesNotMatch(exported.join("\n"), REDACTED_WORDS);
      const window = await sessions.getMessages(id);
      assert.equal(window[0]?.type === "message" && window[0].content, "[redacted]");
    });

    it("a stale redaction changes nothing, a second one is harmless, and another owner cannot redact", async () => {
      const c = ctx();
      const sessions = c.manager().forUser("u1");
      const { id } = await sessions.create();
      await sessions.addMessage(id, { role: "user", content: "private" });
      const { version } = await sessions.get(id);
      await sessions.addMessage(id, { role: "user", content: "later" });
      assert.equal(
        await codeOf(sessions.redactEvent(id, 1, { reason: "x" }, { expectedVersion: version })),
        "precondition_failed",
      );
      assert.match(await textOf(sessions, id), /private/);
      assert.equal(await codeOf(c.manager().forUser("u2").redactEvent(id, 1, { reason: "x" })), "not_found");
      assert.equal(await codeOf(sessions.redactEvent(id, 9, { reason: "x" })), "not_found");
      assert.equal(await codeOf(sessions.redactEvent(id, 1, { reason: "" })), "invalid_request");
      const first = await sessions.redactEvent(id, 1, { reason: "x" });
      const second = await sessions.redactEvent(id, 1, { reason: "y" });
      assert.equal(second.session.version, first.session.version);
      assert.equal(second.events[0]?.redacted?.reason, "x");
      assert.match(await textOf(sessions, id), /later/);
    });

    it("hideLastEvents redacts the newest items in one commit and hands them back as they were", async () => {
      const c = ctx();
      const sessions = c.manager().forUser("u1");
      const { id } = await sessions.create();
      for (const text of ["a", "b", "c"]) await sessions.addMessage(id, { role: "user", content: text });
      const popped = await sessions.hideLastEvents(id, 1, { reason: "popItem" });
      assert.deepEqual(
        popped.hidden.map((e) => (e.type === "message" ? e.content : null)),
        ["c"],
      );
      const twoMore = await sessions.hideLastEvents(id, 2, { reason: "rewind" });
      assert.deepEqual(
        twoMore.hidden.map((e) => (e.type === "message" ? e.content : null)),
        ["a", "b"],
      );
      assert.equal(twoMore.session.version, popped.session.version + 1);
      const events = await sessions.readEvents(id);
      assert.deepEqual(
        events.map((e) => e.seq),
        [1, 2, 3, 4, 5],
      );
      assert.deepEqual(
        events.filter((e) => e.type === "message").map((e) => e.redacted?.reason),
        ["rewind", "rewind", "popItem"],
      );
      const empty = await sessions.hideLastEvents(id, 1, { reason: "nothing left" });
      assert.deepEqual(empty.hidden, []);
    });

    it("prune removes what the policy no longer keeps and leaves one marker; seqs never change", async () => {
      const c = ctx();
      const sessions = c.manager().forUser("u1");
      const { id } = await sessions.create();
      for (let i = 1; i <= 20; i++) await sessions.addMessage(id, { role: "user", content: `m${i}` });
      assert.deepEqual(await sessions.prune(id, { keepLastEvents: 5 }), { removed: 0, prunedThrough: 0 });
      await sessions.appendEvents(id, [{ type: "summary", text: "the first 12", throughSeq: 12 }]);
      const pruned = await sessions.prune(id, { keepLastEvents: 5 });
      assert.deepEqual(pruned, { removed: 12, prunedThrough: 12 });
      const events = await sessions.readEvents(id);
      assert.deepEqual(
        events.map((e) => e.seq),
        [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22],
      );
      assert.deepEqual(events[0]?.type === "custom" && [events[0].name, events[0].data], [
        "frontdesk.pruned",
        { fromSeq: 1, throughSeq: 12 },
      ]);
      const newest = events.at(-1);
      assert.equal(newest?.type === "custom" && newest.name, "frontdesk.history_changed");
      const forced = await sessions.prune(id, { keepLastEvents: 5, onlySummarized: false });
      assert.deepEqual(forced, { removed: 5, prunedThrough: 17 });
      const after = await sessions.readEvents(id);
      assert.deepEqual(
        after.map((e) => e.seq),
        [17, 18, 19, 20, 21, 22, 23],
      );
      assert.doesNotMatch(JSON.stringify(after), /"m1[0-6]?"/);
      // Streams and exports of a pruned session start at the marker.
      const replayed = await collect(sessions.subscribe(id), 7);
      assert.deepEqual(
        replayed.map((e) => e.seq),
        [17, 18, 19, 20, 21, 22, 23],
      );
      const exported: string[] = [];
      for await (const line of sessions.exportSession(id)) exported.push(line);
      assert.equal(exported.length, 8);
      assert.equal(JSON.parse(exported[1] as string).event.name, "frontdesk.pruned");
      const stats = (await sessions.get(id)).stats;
      assert.equal(stats.messages, 20);
    });

    it("pruning or redacting one user's session leaves another user's session with the same id alone", async () => {
      const c = ctx();
      const root = c.manager();
      for (const user of ["u1", "u2"]) {
        const sessions = root.forUser(user);
        await sessions.create({ sessionId: "same" });
        for (let i = 1; i <= 12; i++) await sessions.addMessage("same", { role: "user", content: `${user} m${i}` });
      }
      await root.forUser("u1").prune("same", { keepLastEvents: 3, onlySummarized: false });
      await root.forUser("u1").redactEvent("same", 12, { reason: "x" });
      const other = await root.forUser("u2").readEvents("same");
      assert.deepEqual(
        other.map((e) => (e.type === "message" ? e.content : null)),
        Array.from({ length: 12 }, (_, i) => `u2 m${i + 1}`),
      );
      assert.equal((await root.forUser("u2").get("same")).version, 13);
    });

    it("a retention policy prunes while appending, so a long session keeps a bounded log", async () => {
      const c = ctx();
      const sessions = c.manager({ retention: { keepLastEvents: 50, onlySummarized: false } }).forUser("u1");
      const { id } = await sessions.create();
      for (let round = 0; round < 20; round++) {
        await sessions.appendEvents(
          id,
          Array.from({ length: 25 }, (_, i) => ({ type: "message", role: "user", content: `r${round} m${i}` })),
        );
      }
      const events = await sessions.readEvents(id);
      const header = await sessions.get(id);
      assert.ok(header.lastSeq >= 500);
      assert.ok(events.length <= 50 + 2 * 64 + 25 + 20, `${events.length} events kept`);
      assert.equal(events[0]?.type === "custom" && events[0].name, "frontdesk.pruned");
      const newest = events.filter((e) => e.type === "message").slice(-50);
      assert.equal(newest.length, 50);
      assert.equal(newest.at(-1)?.type === "message" && newest.at(-1)?.content, "r19 m24");
    });

    it("by default a retention policy removes only what a summary stands for", async () => {
      const c = ctx();
      const sessions = c.manager({ retention: { keepLastEvents: 20 } }).forUser("u1");
      const { id } = await sessions.create();
      const messages = (n: number, from: number) =>
        Array.from({ length: n }, (_, i) => ({ type: "message", role: "user", content: `m${from + i}` }));
      await sessions.appendEvents(id, messages(150, 1));
      await sessions.appendEvents(id, messages(10, 151));
      assert.equal((await sessions.readEvents(id, { limit: 1 }))[0]?.seq, 1);
      await sessions.appendEvents(id, [{ type: "summary", text: "the first hundred", throughSeq: 100 }]);
      await sessions.appendEvents(id, messages(70, 161));
      const first = (await sessions.readEvents(id, { limit: 1 }))[0];
      assert.equal(first?.type === "custom" && first.name, "frontdesk.pruned");
      assert.equal(first?.seq, 100);
    });

    it("a session's own retention policy in its metadata overrides the manager's", async () => {
      const c = ctx();
      const sessions = c.manager().forUser("u1");
      const { id } = await sessions.create({
        metadata: { "frontdesk.retention": { keepLastEvents: 10, onlySummarized: false } },
      });
      for (let i = 0; i < 140; i++) await sessions.addMessage(id, { role: "user", content: `m${i}` });
      const events = await sessions.readEvents(id);
      assert.ok(events.length < 140, `${events.length} events kept`);
      const { id: other } = await sessions.create();
      for (let i = 0; i < 140; i++) await sessions.addMessage(other, { role: "user", content: `m${i}` });
      assert.equal((await sessions.readEvents(other)).length, 140);
    });

    it("masking on write replaces secrets and records the spans; off, events are stored as given", async () => {
      const c = ctx();
      const masking = c.manager({ maskSecrets: true }).forUser("u1");
      const plain = c.manager({ namespace: `${c.namespace}-plain` }).forUser("u1");
      for (const sessions of [masking, plain]) {
        await sessions.create({ sessionId: "s" });
        await sessions.addMessage("s", { role: "user", content: `my key is ${OPENAI_KEY}, thanks` });
        await sessions.linkInvocation("s", { tool: "call_api", input: { headers: { authorization: OPENAI_KEY } } });
      }
      const masked = await masking.readEvents("s");
      assert.doesNotMatch(JSON.stringify(masked), /Abc123Def456/);
      const message = masked[0] as SessionEvent;
      const content = message.type === "message" ? String(message.content) : "";
      const span = message.masked?.[0];
      assert.equal(span?.path, "/content");
      assert.equal(span?.kind, "openai_key");
      assert.ok(content.startsWith("my key is "));
      assert.ok(content.endsWith(", thanks"));
      assert.equal(content.slice(span?.start, span?.end).includes("openai_key"), true);
      assert.equal(masked[1]?.masked?.[0]?.path, "/input/headers/authorization");
      const kept = await plain.readEvents("s");
      assert.equal(
        (kept[0] as SessionEvent & { type: "message"; content: string }).content,
        `my key is ${OPENAI_KEY}, thanks`,
      );
      assert.equal(kept[0]?.masked, undefined);
    });

    it("the event size limit holds for the masked event: a text that masking would inflate past it is refused", async () => {
      const c = ctx();
      const maxEventBytes = 16 * 1024;
      const sessions = c.manager({ maskSecrets: true, limits: { maxEventBytes } }).forUser("u1");
      const { id } = await sessions.create();
      // Every other `;pwd='` is a quoted password: 12 characters that become a placeholder and a span.
      const dense = ";pwd='".repeat(2000);
      assert.ok(Buffer.byteLength(JSON.stringify({ type: "message", role: "user", content: dense })) < maxEventBytes);
      await assert.rejects(
        sessions.addMessage(id, { role: "user", content: dense }),
        (error) => isFrontdeskError(error, "payload_too_large") && /with its secrets masked/.test(error.message),
      );
      assert.equal((await sessions.get(id)).lastSeq, 0);
      // A few secrets in a text under the limit are masked and stored as before.
      const stored = await sessions.addMessage(id, { role: "user", content: `${"a".repeat(8000)};pwd='hunter2'` });
      assert.equal(stored.masked?.length, 1);
      assert.ok(Buffer.byteLength(JSON.stringify(stored)) <= maxEventBytes);
    });

    it("writers cannot forge tombstones, masking records or Frontdesk's own markers", async () => {
      const c = ctx();
      const sessions = c.manager().forUser("u1");
      const { id } = await sessions.create();
      const forged = [
        { type: "message", role: "user", content: "x", redacted: { at: 1, by: "me", reason: "r" } },
        { type: "message", role: "user", content: "x", masked: [] },
        { type: "custom", name: "frontdesk.pruned", data: { fromSeq: 1, throughSeq: 9 } },
        { type: "custom", name: "frontdesk.history_changed" },
      ];
      for (const event of forged) assert.equal(await codeOf(sessions.appendEvents(id, [event])), "invalid_request");
      assert.equal((await sessions.get(id)).lastSeq, 0);
    });
  });
}
