/**
 * A request's body may take the request bound plus its size at the slowest rate served
 * (`minBodyBytesPerSecond`): an upload that keeps that rate is served however long it takes, and
 * a client trickling a body slower than that is cut off with 408 once its size's bound has passed.
 * The bounds are shortened (1 s + 1,000 bytes a second) so the test takes seconds. Runs alone: its
 * bounds are timings.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/listen.ts";
import { listeningWithSession } from "../server/helpers.ts";

const REQUEST_MS = 1_000;
const RATE = 1_000;
/** Scheduling slack on a shared 2-core machine. */
const SLACK_MS = 1_500;

interface Upload {
  status: string;
  closedAfterMs: number;
}

/** Sends one POST whose body goes out `chunk` bytes every `everyMs`; resolves when the server closes or answers. */
function upload(url: string, key: string, body: string, chunk: number, everyMs: number): Promise<Upload> {
  const { port } = new URL(url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(Number(port), "127.0.0.1");
    let received = "";
    let timer: ReturnType<typeof setInterval> | undefined;
    const done = () => {
      clearInterval(timer);
      resolve({ status: received.split("\r\n")[0] ?? "", closedAfterMs: performance.now() - started });
    };
    socket.on("error", () => undefined);
    socket.on("data", (data) => {
      received += data.toString("latin1");
      // A complete answer to a served request ends the upload: keep-alive would hold the socket.
      if (/^HTTP\/1\.1 201 /.test(received) && received.includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("close", done);
    socket.on("connect", () => {
      socket.write(
        `POST /v1/sessions/slow/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
      );
      let sent = 0;
      timer = setInterval(() => {
        if (socket.destroyed || sent >= body.length) return clearInterval(timer);
        socket.write(body.slice(sent, sent + chunk));
        sent += chunk;
      }, everyMs);
    });
    setTimeout(() => reject(new Error(`no end after 20 s: ${received}`)), 20_000).unref();
  });
}

describe("request bodies", () => {
  let server: RunningServer;
  let key: string;

  beforeAll(async () => {
    ({ server, key } = await listeningWithSession(
      { limits: { headersTimeoutMs: 500, requestTimeoutMs: REQUEST_MS, minBodyBytesPerSecond: RATE } },
      "slow",
    ));
  });

  afterAll(async () => {
    await server?.close();
  });

  const event = (bytes: number) => {
    const shell = JSON.stringify({ type: "message", role: "user", content: "" });
    return JSON.stringify({ type: "message", role: "user", content: "x".repeat(bytes - shell.length) });
  };

  it("serves an upload that keeps the minimum rate, though it takes longer than the request bound", async () => {
    // 3,000 bytes at 2,000 bytes a second: 1.5 s, past the 1 s bound; its own bound is 1 s + 3 s.
    const result = await upload(server.url, key, event(3_000), 100, 50);
    expect(result.status).toBe("HTTP/1.1 201 Created");
    expect(result.closedAfterMs).toBeGreaterThan(REQUEST_MS);
  });

  it("cuts off a body trickled slower than that, once its size's bound has passed", async () => {
    // 3,000 bytes at 50 bytes a second would take a minute; the bound is 1 s + 3 s.
    const bound = REQUEST_MS + (3_000 * 1000) / RATE;
    const result = await upload(server.url, key, event(3_000), 10, 200);
    expect(result.status).toBe("HTTP/1.1 408 Request Timeout");
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(bound - 100);
    expect(result.closedAfterMs).toBeLessThan(bound + SLACK_MS);
    // Nothing of the cut-off request was stored: only the served upload's event is in the log.
    const events = await fetch(`${server.url}/v1/sessions/slow/events`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(((await events.json()) as { items: unknown[] }).items).toHaveLength(1);
  });
});
