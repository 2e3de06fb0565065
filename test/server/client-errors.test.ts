/**
 * Connections that break HTTP before a request reaches a route: bytes that are not HTTP, headers
 * larger than Node reads, and (in chunks, so a crowd of them never holds the event loop) requests
 * whose headers outlived their bound. The crowd's timing on a real server is
 * test/isolated/slow-clients.test.ts; here, what each gets back and how the closes are spread.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLOSES_PER_TURN, createClientErrorHandler, REQUEST_TIMEOUT_RESPONSE } from "../../src/server/client-errors.ts";
import type { RunningServer } from "../../src/server/listen.ts";
import { listeningWithSession } from "./helpers.ts";

/** Sends `bytes` on a fresh connection and returns all the server wrote before it closed. */
function exchange(url: string, bytes: string): Promise<string> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve, reject) => {
    let received = "";
    const socket = connect(Number(port), hostname);
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(received));
    socket.write(bytes);
  });
}

function bodyOf(response: string): unknown {
  return JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));
}

describe("client errors on a listening server", () => {
  let server: RunningServer;

  beforeAll(async () => {
    ({ server } = await listeningWithSession({}, "s1"));
  });

  afterAll(async () => {
    await server?.close();
  });

  it("answers bytes that are not HTTP with 400 invalid_request and closes the connection", async () => {
    const response = await exchange(server.url, "HELLO THERE\r\n\r\n");
    expect(response.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
    expect(response).toMatch(/\r\nConnection: close\r\n/);
    expect(bodyOf(response)).toEqual({
      error: { code: "invalid_request", message: "The request is not valid HTTP" },
    });
  });

  it("answers headers larger than Node reads with 431, and the server still serves", async () => {
    // Over Node's 16 KiB, but within one read of the socket: a server that closes with bytes still
    // unread in its receive buffer sends a reset, which may drop the answer before the client reads it.
    const huge = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20 * 1024)}\r\n\r\n`;
    const response = await exchange(server.url, huge);
    expect(response.split("\r\n")[0]).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    expect((bodyOf(response) as { error: { code: string } }).error.code).toBe("payload_too_large");
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

/** A socket stand-in that records what the handler did to it, and in which turn of the loop. */
function recordingSocket(turn: () => number) {
  const socket = {
    destroyed: false,
    writable: true,
    paused: false,
    written: "",
    closedInTurn: -1,
    pause() {
      socket.paused = true;
    },
    write(text: string) {
      socket.written += text;
    },
    destroy() {
      socket.destroyed = true;
      socket.closedInTurn = turn();
    },
  };
  return socket;
}

describe("timed-out connections", () => {
  it("are answered 408 and closed, at most CLOSES_PER_TURN in one turn of the event loop", async () => {
    const handle = createClientErrorHandler();
    let turn = 0;
    const sockets = Array.from({ length: 3 * CLOSES_PER_TURN + 5 }, () => recordingSocket(() => turn));
    const timeout = Object.assign(new Error("Request timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" });
    for (const socket of sockets) handle(timeout, socket as unknown as Socket);
    // Nothing is closed within the task that reported them: that task is Node's whole check pass.
    expect(sockets.every((s) => s.paused && !s.destroyed)).toBe(true);
    while (sockets.some((s) => !s.destroyed)) {
      await new Promise((resolve) => setImmediate(resolve));
      turn++;
      expect(turn).toBeLessThan(50);
    }
    expect(sockets.every((s) => s.written === REQUEST_TIMEOUT_RESPONSE)).toBe(true);
    const perTurn = new Map<number, number>();
    for (const s of sockets) perTurn.set(s.closedInTurn, (perTurn.get(s.closedInTurn) ?? 0) + 1);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(CLOSES_PER_TURN);
    expect(perTurn.size).toBe(4);
  });

  it("skips a connection the client closed while it waited, and serves a later crowd as the first", async () => {
    const handle = createClientErrorHandler();
    const timeout = Object.assign(new Error("Request timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" });
    const gone = recordingSocket(() => 0);
    const waiting = recordingSocket(() => 0);
    handle(timeout, gone as unknown as Socket);
    handle(timeout, waiting as unknown as Socket);
    gone.destroyed = true;
    await new Promise((resolve) => setImmediate(resolve));
    expect(gone.written).toBe("");
    expect(waiting.written).toBe(REQUEST_TIMEOUT_RESPONSE);

    const later = recordingSocket(() => 0);
    handle(timeout, later as unknown as Socket);
    await new Promise((resolve) => setImmediate(resolve));
    expect(later.destroyed).toBe(true);
    expect(later.written).toBe(REQUEST_TIMEOUT_RESPONSE);
  });

  it("closes without an answer a connection whose response has begun, so a stream is not corrupted", async () => {
    const handle = createClientErrorHandler();
    const streaming = Object.assign(
      recordingSocket(() => 0),
      { _httpMessage: { headersSent: true } },
    );
    const malformed = Object.assign(
      recordingSocket(() => 0),
      { _httpMessage: { headersSent: true } },
    );
    handle(
      Object.assign(new Error("Request timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }),
      streaming as unknown as Socket,
    );
    handle(Object.assign(new Error("Parse Error"), { code: "HPE_INVALID_METHOD" }), malformed as unknown as Socket);
    await new Promise((resolve) => setImmediate(resolve));
    for (const socket of [streaming, malformed]) {
      expect(socket.destroyed).toBe(true);
      expect(socket.written).toBe("");
    }
  });

  it("leaves a reset connection alone", () => {
    const handle = createClientErrorHandler();
    const socket = recordingSocket(() => 0);
    handle(Object.assign(new Error("reset"), { code: "ECONNRESET" }), socket as unknown as Socket);
    expect(socket.written).toBe("");
    expect(socket.destroyed).toBe(false);
  });
});
