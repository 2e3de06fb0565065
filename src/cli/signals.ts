import type { CliIo } from "./io.ts";

/** The signals `chat` and `run` handle: a turn is cancelled (its partial reply kept), never cut off. */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number] | "abort";

const NUMBERS: Record<StopSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15, abort: 2 };

/** The conventional exit code of a process stopped by `signal`: 128 + its number (130 for SIGINT). */
export const signalExitCode = (signal: StopSignal): number => 128 + NUMBERS[signal];

/**
 * Calls `handler` for SIGINT, SIGTERM and SIGHUP sent to the process (which then no longer kill it
 * outright) and when `io.signal` aborts. Returns the function that removes the handlers.
 */
export function onStopSignals(io: CliIo, handler: (signal: StopSignal) => void): () => void {
  const listeners = STOP_SIGNALS.map((signal) => {
    const listener = () => handler(signal);
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  const onAbort = () => handler("abort");
  io.signal?.addEventListener("abort", onAbort);
  if (io.signal?.aborted) queueMicrotask(onAbort);
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
    io.signal?.removeEventListener("abort", onAbort);
  };
}

/** The signals `serve` drains on. */
export const DRAIN_SIGNALS = ["SIGTERM", "SIGINT"] as const;
export type DrainSignal = (typeof DRAIN_SIGNALS)[number];

/**
 * The stop request of a long-running command (`serve`): `requested` resolves on the first SIGTERM
 * or SIGINT, or when `io.signal` aborts. Listening starts at once, so a signal during startup
 * still drains instead of killing.
 *
 * The listeners stay on the process until `dispose()`, called once the drain is over, and are
 * never removed while a signal is being delivered. signal-exit (installed by proper-lockfile, which
 * the `file:` store loads) listens too, and when a signal reaches it while it is the only listener
 * left it re-raises the signal to let the default action kill the process. A listener that removed
 * itself on delivery (`process.once`) left it alone, and the process died with 143 mid-drain.
 *
 * A second signal before `dispose()` gives up on a drain that hangs: the listeners go and the
 * signal is raised again, so it ends the process as if nobody were listening.
 */
export function watchForStop(io: CliIo): { requested: Promise<DrainSignal | "abort">; dispose(): void } {
  let resolveRequest!: (reason: DrainSignal | "abort") => void;
  const requested = new Promise<DrainSignal | "abort">((resolve) => (resolveRequest = resolve));
  let stopping = false;
  const listeners = DRAIN_SIGNALS.map((signal) => {
    const listener = (): void => {
      if (!stopping) {
        stopping = true;
        resolveRequest(signal);
        return;
      }
      dispose();
      process.kill(process.pid, signal);
    };
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  const onAbort = (): void => {
    stopping = true;
    resolveRequest("abort");
  };
  const dispose = (): void => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
    io.signal?.removeEventListener("abort", onAbort);
  };
  if (io.signal?.aborted) onAbort();
  else io.signal?.addEventListener("abort", onAbort, { once: true });
  return { requested, dispose };
}
