/**
 * useSession's feed (SessionFeed, no React) when the past changes under it, against a real server:
 * a redaction, a hide-last and a prune made by another client reach a mounted feed as
 * `frontdesk.history_changed` notices, and the events it holds become what the server stores
 * (tombstones, the pruned marker), never the old content. A feed that keeps no events hands the
 * same rewrite to its holder through `onRewrite`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HistoryRewrite, SessionFeed, type SessionSnapshot } from "../../src/react/index.ts";
import type { RunningServer } from "../../src/server/listen.ts";
import { api, openWorld, STORE_KINDS, type World } from "../server/agent-helpers.ts";

const memory = STORE_KINDS.find((kind) => kind.name === "memory") as (typeof STORE_KINDS)[number];
const CANARY = "CANARY-4111-1111-1111-1111";

function until(feed: SessionFeed, check: (s: SessionSnapshot) => boolean, what: string): Promise<SessionSnapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(feed.getSnapshot().events.slice(-3))}`));
    }, 10_000);
    const test = () => {
      const snapshot = feed.getSnapshot();
      if (!check(snapshot)) return;
      clearTimeout(timer);
      off();
      resolve(snapshot);
    };
    const off = feed.subscribe(test);
    test();
  });
}

const message = (role: string, content: string) => ({ type: "message", role, content });

describe("SessionFeed follows redactions and prunes of events it holds", () => {
  let world: World;
  let server: RunningServer;
  let key: string;

  beforeAll(async () => {
    world = await openWorld(memory);
    server = await world.instance();
    key = world.keys.alice;
  });
  afterAll(async () => {
    await world?.close();
  });

  const append = async (id: string, events: unknown[]) => {
    const answer = await api(server, key, "POST", `/v1/sessions/${id}/events`, { events });
    expect(answer.status).toBe(201);
    return answer.body as { version: number; lastSeq: number };
  };

  it("replaces a redacted event with its tombstone, in the snapshot and for an onRewrite holder", async () => {
    await api(server, key, "POST", "/v1/sessions", { id: "rw-1" });
    const { version } = await append("rw-1", [
      message("user", "hello"),
      message("user", `my card is ${CANARY}`),
      message("assistant", "I should not have seen that."),
    ]);
    const connection = { baseUrl: server.url, apiKey: key };
    const feed = new SessionFeed("rw-1", connection);
    const rewrites: HistoryRewrite[] = [];
    const held = new Map<number, unknown>();
    const holder = new SessionFeed("rw-1", connection, {
      keepEvents: false,
      onEvents: (batch) => {
        for (const event of batch) held.set(event.seq, event);
      },
      onRewrite: (rewrite) => {
        rewrites.push(rewrite);
        for (const event of rewrite.events) held.set(event.seq, event);
      },
    });
    feed.start();
    holder.start();
    await until(feed, (s) => s.lastSeq === 3, "the three messages");
    expect(JSON.stringify(feed.getSnapshot().events)).toContain(CANARY);

    const redacted = await fetch(`${server.url}/v1/sessions/rw-1/events/2/redact`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "if-match": `"${version}"` },
      body: JSON.stringify({ reason: "card number pasted by the user" }),
    });
    expect(redacted.status).toBe(200);

    const after = await until(
      feed,
      (s) => s.events.find((event) => event.seq === 2)?.redacted !== undefined,
      "the tombstone in place of event 2",
    );
    expect(JSON.stringify(after.events)).not.toContain(CANARY);
    const tombstone = after.events.find((event) => event.seq === 2);
    expect(tombstone).toMatchObject({
      type: "message",
      role: "user",
      content: "[redacted]",
      redacted: { reason: "card number pasted by the user" },
    });
    // The notice itself is an event of the log, received like any other.
    expect(after.events.at(-1)).toMatchObject({
      type: "custom",
      name: "frontdesk.history_changed",
      data: { kind: "redaction", seqs: [2] },
    });
    expect(after.events.map((event) => event.seq)).toEqual([1, 2, 3, 4]);

    await expect.poll(() => rewrites.length).toBe(1);
    expect(rewrites[0]).toMatchObject({
      kind: "redaction",
      prunedThrough: 0,
      events: [{ seq: 2, content: "[redacted]" }],
    });
    expect(JSON.stringify([...held.values()])).not.toContain(CANARY);
    feed.stop();
    holder.stop();
  });

  it("hides the last items: every event named by one notice becomes a tombstone", async () => {
    await api(server, key, "POST", "/v1/sessions", { id: "rw-2" });
    await append("rw-2", [
      message("user", "keep me"),
      message("user", `${CANARY} one`),
      message("assistant", `${CANARY} two`),
    ]);
    const feed = new SessionFeed("rw-2", { baseUrl: server.url, apiKey: key });
    feed.start();
    await until(feed, (s) => s.lastSeq === 3, "the messages");
    const hidden = await api(server, key, "POST", "/v1/sessions/rw-2/events/redact-last", {
      count: 2,
      reason: "rewind",
    });
    expect(hidden.status).toBe(200);
    const after = await until(
      feed,
      (s) => s.events.filter((event) => event.redacted !== undefined).length === 2,
      "two tombstones",
    );
    expect(JSON.stringify(after.events)).not.toContain(CANARY);
    expect(after.events[0]).toMatchObject({ seq: 1, content: "keep me" });
    feed.stop();
  });

  it("a prune drops the events it removed and puts the marker at the head of what the feed holds", async () => {
    await api(server, key, "POST", "/v1/sessions", {
      id: "rw-3",
      metadata: { "frontdesk.retention": { keepLastEvents: 10, onlySummarized: false } },
    });
    await append("rw-3", [message("user", `early ${CANARY}`)]);
    await append(
      "rw-3",
      Array.from({ length: 60 }, (_, i) => message("user", `filler ${i + 2}`)),
    );
    const feed = new SessionFeed("rw-3", { baseUrl: server.url, apiKey: key });
    feed.start();
    await until(feed, (s) => s.lastSeq === 61, "the first 61 events");
    expect(feed.getSnapshot().events[0]).toMatchObject({ seq: 1 });

    // Seq 128 is a check: 118 events are then due, more than the batch of 64, so the session is pruned.
    await append(
      "rw-3",
      Array.from({ length: 70 }, (_, i) => message("user", `more ${i + 62}`)),
    );
    const after = await until(
      feed,
      (s) => s.events[0]?.type === "custom" && s.events[0].name === "frontdesk.pruned",
      "the pruned marker first",
    );
    const marker = after.events[0]!;
    const through = (marker.type === "custom" ? (marker.data as { throughSeq: number }) : { throughSeq: 0 }).throughSeq;
    expect(through).toBeGreaterThan(61);
    expect(marker.seq).toBe(through);
    const seqs = after.events.map((event) => event.seq);
    expect(seqs).toEqual(seqs.map((_, i) => through + i));
    expect(JSON.stringify(after.events)).not.toContain(CANARY);
    expect(
      after.events.some(
        (event) =>
          event.type === "custom" &&
          event.name === "frontdesk.history_changed" &&
          (event.data as { kind: string }).kind === "prune",
      ),
    ).toBe(true);
    feed.stop();
  });
});
