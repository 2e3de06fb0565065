import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempStore } from "./harness.ts";
import { assertBuilt, runCli, startServe } from "./processes.ts";

const WORKERS = 8;
/** Acknowledged appends to collect before the kill; the kill lands while every worker has one in flight. */
const ACKED_BEFORE_KILL = 400;

interface Ack {
  idempotencyKey: string;
  seq: number;
  worker: number;
  n: number;
}

interface WireEvent {
  seq: number;
  type: string;
  name?: string;
  data?: { worker: number; n: number };
}

const temp = tempStore();
/** Kills a server the test left running when an assertion failed midway. */
let cleanup: () => void = () => {};
beforeAll(() => assertBuilt());
afterAll(() => {
  cleanup();
  temp.remove();
});

async function readAllEvents(url: string, headers: Record<string, string>, id: string): Promise<WireEvent[]> {
  const events: WireEvent[] = [];
  let after = 0;
  for (let page = 0; page < 10_000; page++) {
    const response = await fetch(`${url}/v1/sessions/${id}/events?after=${after}&limit=1000`, { headers });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { items: WireEvent[]; nextAfter: number | null };
    events.push(...body.items);
    if (body.nextAfter === null || body.items.length === 0) return events;
    after = body.nextAfter;
  }
  throw new Error("too many pages");
}

describe("kill -9 during concurrent appends", () => {
  it("keeps every acknowledged append exactly once and the database intact", async () => {
    const made = await runCli(["keys", "create", "--store", temp.url, "--user", "admin", "--admin"]);
    expect(made.code).toBe(0);
    const key = made.stdout.trim();
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };

    // No rate limit: the workers append as fast as they can, and a 429 would end the test early.
    const config = join(temp.dir, "frontdesk.config.json");
    writeFileSync(config, JSON.stringify({ limits: { requestsPerSecond: null } }));
    const first = await startServe(["--store", temp.url, "--port", "0", "--config", config]);
    cleanup = () => first.cli.child.kill("SIGKILL");
    const created = await fetch(`${first.url}/v1/sessions`, {
      method: "POST",
      headers,
      body: JSON.stringify({ id: "crash", ttlSeconds: null }),
    });
    expect(created.status).toBe(201);

    const acks: Ack[] = [];
    let killed = false;
    let reachedTarget: () => void = () => {};
    const target = new Promise<void>((resolve) => {
      reachedTarget = resolve;
    });

    const worker = async (w: number): Promise<void> => {
      for (let n = 0; !killed; n++) {
        const idempotencyKey = `w${w}-${n}`;
        let response: Response;
        try {
          response = await fetch(`${first.url}/v1/sessions/crash/events`, {
            method: "POST",
            headers: { ...headers, "idempotency-key": idempotencyKey },
            body: JSON.stringify({ type: "custom", name: "kill9", data: { worker: w, n } }),
          });
        } catch {
          return; // the server died with this request in flight: not acknowledged
        }
        if (response.status !== 201) {
          await response.body?.cancel();
          if (killed) return;
          throw new Error(`append answered ${response.status}`);
        }
        let body: { seqs: number[] };
        try {
          body = (await response.json()) as { seqs: number[] };
        } catch {
          return; // the body was cut off by the kill: not acknowledged
        }
        acks.push({ idempotencyKey, seq: body.seqs[0]!, worker: w, n });
        if (acks.length >= ACKED_BEFORE_KILL) reachedTarget();
      }
    };

    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await Promise.race([target, Promise.all(workers)]);
    killed = true;
    first.cli.child.kill("SIGKILL");
    const death = await first.cli.waitExit(20_000, "SIGKILL");
    expect(death.signal).toBe("SIGKILL");
    await Promise.all(workers);
    expect(acks.length).toBeGreaterThanOrEqual(ACKED_BEFORE_KILL);

    const second = await startServe(["--store", temp.url, "--port", "0", "--config", config]);
    cleanup = () => second.cli.child.kill("SIGKILL");
    try {
      const events = await readAllEvents(second.url, headers, "crash");
      // Gapless and ordered.
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
      // Every appended event is there at most once...
      const byKey = new Map<string, WireEvent[]>();
      for (const event of events) {
        expect(event).toMatchObject({ type: "custom", name: "kill9" });
        const id = `w${event.data!.worker}-${event.data!.n}`;
        byKey.set(id, [...(byKey.get(id) ?? []), event]);
      }
      for (const [id, found] of byKey) expect(found, id).toHaveLength(1);
      // ...and every acknowledged one exactly once, at the seq the server acknowledged.
      for (const ack of acks) {
        const found = byKey.get(ack.idempotencyKey);
        expect(found, ack.idempotencyKey).toHaveLength(1);
        expect(found![0]!.seq, ack.idempotencyKey).toBe(ack.seq);
      }
      // An acknowledged append's retry is still recognised after the crash: nothing is appended twice.
      const sample = acks[Math.floor(acks.length / 2)]!;
      const retry = await fetch(`${second.url}/v1/sessions/crash/events`, {
        method: "POST",
        headers: { ...headers, "idempotency-key": sample.idempotencyKey },
        body: JSON.stringify({ type: "custom", name: "kill9", data: { worker: sample.worker, n: sample.n } }),
      });
      expect(retry.status).toBe(201);
      expect(await retry.json()).toMatchObject({ replayed: true, seqs: [sample.seq] });
      expect((await readAllEvents(second.url, headers, "crash")).length).toBe(events.length);
    } finally {
      expect(await second.cli.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    }

    const db = new Database(temp.path, { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma("integrity_check")).toEqual([{ integrity_check: "ok" }]);
    } finally {
      db.close();
    }
  });
});
