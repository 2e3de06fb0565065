/**
 * Frontdesk's own event stream resumes byte-identically after a cut: 200 readers each follow a
 * detached turn's reply on `GET /v1/sessions/{id}/events/stream`, drop the connection after a
 * random number of frames, reconnect with `Last-Event-ID`, and read on to the turn's end. The
 * reply folded from the frames they received (LiveReply over the `turn.delta` events) equals the
 * stored assistant message exactly, and every seq arrives once, with no gap.
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/agent/config.ts";
import { LiveReply, type SseMessage, SseParser } from "../../src/client/index.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import type { RunningServer } from "../../src/server/listen.ts";
import { cutText, PacedModel, pacedModelConfig, QUICK_PIECES } from "../support/paced-model.ts";
import { seeded } from "../support/seeded.ts";
import { api, auth, openWorld, STORE_KINDS, type World } from "./agent-helpers.ts";

const memory = STORE_KINDS.find((kind) => kind.name === "memory");
if (!memory) throw new Error("no memory store kind");

const TURNS = 10;
const READERS_PER_TURN = 20;
const CHUNKS = 24;

/** A reply with multi-byte characters, so a piece split anywhere would show as mangled text. */
const replyText = (turn: number) =>
  `Réponse ${turn}: le café coûte 3 € — 日本語のテキスト 🚀🧪 and a line\nwith “quotes”, tabs\tand emoji 👩‍💻 at the end ${turn}.`;

const isTurnEnd = (event: SessionEvent) =>
  event.type === "status" && event.scope === "agent" && event.previous === "running";

/**
 * Reads the events stream after `after` until `stop` says so (then drops the connection, as a
 * closed tab or a lost network would) or the turn ends.
 */
function readStream(
  server: RunningServer,
  key: string,
  sessionId: string,
  after: number,
  stop: (events: SessionEvent[]) => boolean,
): Promise<{ events: SessionEvent[]; cut: boolean }> {
  return new Promise((resolve, reject) => {
    const events: SessionEvent[] = [];
    const req = httpRequest(`${server.url}/v1/sessions/${sessionId}/events/stream`, {
      headers: { ...auth(key), accept: "text/event-stream", "last-event-id": String(after) },
    });
    let settled = false;
    const settle = (cut: boolean) => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve({ events, cut });
    };
    req.on("error", (error) => (settled ? undefined : reject(error)));
    req.on("response", (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`the stream answered ${response.statusCode}`));
        return;
      }
      const parser = new SseParser();
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        for (const message of parser.push(chunk) as SseMessage[]) {
          if (settled || message.id === undefined) continue;
          const event = JSON.parse(message.data) as SessionEvent;
          events.push(event);
          if (isTurnEnd(event)) return settle(false);
          if (stop(events)) return settle(true);
        }
      });
      response.on("error", () => undefined);
    });
    req.end();
  });
}

/** The reply as a reader shows it: the open reply's text just before its assistant message closes it. */
function foldReply(events: readonly SessionEvent[]): string | undefined {
  const live = new LiveReply();
  let shown: string | undefined;
  for (const event of events) {
    const before = live.open?.text;
    if (live.observe(event) === "closed" && event.type === "message") shown = before;
  }
  return shown;
}

describe("Frontdesk's event stream, cut and resumed with Last-Event-ID", () => {
  let world: World;
  let server: RunningServer;
  const model = new PacedModel();

  beforeAll(async () => {
    await model.start();
    model.script = (request) => {
      const last = String(request.messages.at(-1)?.content ?? "");
      return { text: replyText(Number(/turn (\d+)/.exec(last)?.[1] ?? -1)), chunks: CHUNKS };
    };
    world = await openWorld(memory as (typeof STORE_KINDS)[number]);
    server = await world.instance({
      // Twenty readers per turn, each with a stream open and one being dropped.
      limits: { maxStreamsPerKey: 100 },
      agents: {
        config: parseConfig({
          models: { paced: pacedModelConfig(model.url) },
          agents: { assistant: { model: "paced", persistDeltas: QUICK_PIECES, tools: [] } },
        }),
      },
    });
  });
  afterAll(async () => {
    await world?.close();
    await model.stop();
  });

  /** Waits (polling, with a deadline) until the log's pieces after `startSeq` spell `text`. */
  async function loggedReply(startSeq: number, text: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const page = await api(server, world.keys.alice, "GET", `/v1/sessions/resume-cuts/events?after=${startSeq}`);
      const logged = (page.body.items as SessionEvent[])
        .map((event) => (event.type === "custom" ? ((event.data as { text?: string })?.text ?? "") : ""))
        .join("");
      if (logged === text) return;
      if (Date.now() > deadline)
        throw new Error(`the log holds ${JSON.stringify(logged)}, not ${JSON.stringify(text)}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it("gives every reader the stored reply exactly, text once, in 200 of 200 random cuts", async () => {
    const random = seeded(0x18_2026);
    const key = world.keys.alice;
    await api(server, key, "POST", "/v1/sessions", { id: "resume-cuts" });
    let cuts = 0;
    let midReply = 0;
    for (let turn = 0; turn < TURNS; turn++) {
      model.hold();
      const writtenBefore = model.written;
      const started = await api(server, key, "POST", "/v1/sessions/resume-cuts/turns", {
        message: `turn ${turn}`,
        detach: true,
      });
      expect(started.status).toBe(202);
      const startSeq = started.body.startSeq as number;

      const readers = Array.from({ length: READERS_PER_TURN }, async () => {
        // Frames before the cut: anywhere from the user message to past the reply's last piece.
        const cutAfter = 1 + Math.floor(random() * (CHUNKS + 4));
        const first = await readStream(server, key, "resume-cuts", startSeq - 1, (events) => events.length >= cutAfter);
        const resumeAfter = first.events.at(-1)?.seq ?? startSeq - 1;
        const second = first.cut
          ? await readStream(server, key, "resume-cuts", resumeAfter, () => false)
          : { events: [], cut: false };
        return { first, second };
      });
      // Pace the reply chunk by chunk while the readers cut and reconnect.
      // Each piece is in the log before the next goes out, so each is a frame of its own.
      const pieces = cutText(replyText(turn), CHUNKS);
      let sent = "";
      for (const [index, piece] of pieces.entries()) {
        model.release(1);
        await model.until((m) => m.written >= writtenBefore + index + 1, `chunk ${index + 1} of turn ${turn}`);
        sent += piece;
        await loggedReply(startSeq, sent);
      }
      const results = await Promise.all(readers);

      const stored = (await api(server, key, "GET", `/v1/sessions/resume-cuts/events?after=${startSeq - 1}`)).body
        .items as SessionEvent[];
      const assistant = stored.find((event) => event.type === "message" && event.role === "assistant");
      const storedText = assistant?.type === "message" ? assistant.content : undefined;
      expect(storedText).toBe(replyText(turn));
      const storedSeqs = stored.slice(0, stored.findIndex(isTurnEnd) + 1).map((event) => event.seq);

      for (const { first, second } of results) {
        cuts++;
        const events = [...first.events, ...second.events];
        const sawEnd = events.some(isTurnEnd);
        expect(sawEnd).toBe(true);
        // Every seq of the turn once, in order: no gap, no duplicate.
        expect(events.map((event) => event.seq)).toEqual(storedSeqs);
        expect(foldReply(events)).toBe(storedText);
        if (first.events.some((event) => event.type === "custom") && second.events.some((e) => e.type === "custom")) {
          midReply++;
        }
      }
    }
    expect(cuts).toBe(200);
    // Most cuts fall inside the reply: pieces before the cut and after it.
    expect(midReply).toBeGreaterThan(100);
  }, 120_000);
});
