/** Closing a Redis store never waits forever on a connection that will not answer its QUIT. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { QUIT_TIMEOUT_MS, quit } from "../../src/stores/redis/connection.ts";

const client = (status: string, answer: () => Promise<"OK">) => ({
  status,
  quit: vi.fn(answer),
  disconnect: vi.fn(),
});

describe("the Redis store's quit", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("drops the sockets once QUIT has had its time, when it never settles", async () => {
    vi.useFakeTimers();
    const hanging = client("ready", () => new Promise<"OK">(() => undefined));
    let done = false;
    const closing = quit(hanging as never).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(QUIT_TIMEOUT_MS - 1);
    expect(done).toBe(false);
    expect(hanging.disconnect).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await closing;
    expect(hanging.disconnect).toHaveBeenCalledOnce();
  });

  it("leaves a connection that quit politely as it is, and drops one that refused or was not up", async () => {
    const polite = client("ready", async () => "OK");
    await quit(polite as never);
    expect(polite.disconnect).not.toHaveBeenCalled();
    const refusing = client("ready", async () => {
      throw new Error("Connection is closed.");
    });
    await quit(refusing as never);
    expect(refusing.disconnect).toHaveBeenCalledOnce();
    const reconnecting = client("reconnecting", async () => "OK");
    await quit(reconnecting as never);
    expect(reconnecting.quit).not.toHaveBeenCalled();
    expect(reconnecting.disconnect).toHaveBeenCalledOnce();
  });
});
