/**
 * What the server answers on a connection that broke HTTP before a request reached Fastify: a
 * request line or headers that never finished in time (Node's headers bound), a header block too
 * large, or bytes that are not HTTP.
 *
 * Node finds the connections past the headers bound in one pass every check interval and hands
 * each to `clientError` within that pass. A thousand slow clients that connected together expire
 * together: answering and closing them all in that one task held the event loop for 60–110 ms on
 * a 2-core machine (measured in test/isolated/slow-clients.test.ts), and longer under load. So
 * timeouts are queued here and closed in chunks, one chunk per turn of the event loop, so that a
 * /healthz probe or a live stream gets its turn between chunks. Every other client error is rare
 * and answered at once.
 */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";

/** Closes of this many connections take about 5 ms: the longest one turn of the loop may take. */
export const CLOSES_PER_TURN = 64;

/** Node's own answer to a request that outlived its bound, before the connection is closed. */
export const REQUEST_TIMEOUT_RESPONSE =
  "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

function answerOf(error: NodeJS.ErrnoException): string {
  const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
  const body = JSON.stringify({
    error: {
      code: status === 431 ? "payload_too_large" : "invalid_request",
      message: status === 431 ? "The request's headers are too large" : "The request is not valid HTTP",
    },
  });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/**
 * Whether an answer may still be written: not when a response on this connection has begun (a
 * stream, with a pipelined request behind it), whose bytes an error's status line would corrupt.
 * Node's own handler checks the same internal field.
 */
function mayAnswer(socket: Socket): boolean {
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  return socket.writable && !inFlight?.headersSent;
}

/** A `clientError` listener (Fastify's `clientErrorHandler`) that closes timed-out connections in chunks. */
export function createClientErrorHandler(): (error: NodeJS.ErrnoException, socket: Socket) => void {
  const timedOut: Socket[] = [];
  let next = 0;

  const closeChunk = (): void => {
    const end = Math.min(timedOut.length, next + CLOSES_PER_TURN);
    for (; next < end; next++) {
      const socket = timedOut[next] as Socket;
      if (socket.destroyed) continue;
      if (mayAnswer(socket)) socket.write(REQUEST_TIMEOUT_RESPONSE);
      socket.destroy();
    }
    if (next < timedOut.length) {
      setImmediate(closeChunk);
      return;
    }
    timedOut.length = 0;
    next = 0;
  };

  return (error, socket) => {
    // A reset connection is already gone: there is no one to answer.
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
      // Nothing more is read from it while it waits its turn: its bytes no longer count.
      socket.pause();
      // The queue is empty exactly when no chunk is scheduled: the first one in schedules it.
      if (timedOut.push(socket) === 1) setImmediate(closeChunk);
      return;
    }
    if (mayAnswer(socket)) socket.write(answerOf(error));
    socket.destroy();
  };
}
