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
