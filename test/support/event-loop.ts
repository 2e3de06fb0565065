/**
 * How long a piece of work held the event loop, and how often it let the loop turn, for the tests
 * that prove no input within the limits may hold it: a 5 ms ticker sees a hold that ends before the
 * work does, Node's delay monitor one inside the work, and a last look when the work returns a
 * hold that lasts until then.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";

/** Runs `work` while a 5 ms ticker and Node's event-loop delay monitor watch; returns the longest hold. */
export async function longestLoopHold<T>(work: () => Promise<T>): Promise<{ result: T; heldMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  let last = performance.now();
  let longestGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
  }, 5);
  try {
    const result = await work();
    // A hold that lasts until the work returns is seen here, before the ticker could run again.
    longestGap = Math.max(longestGap, performance.now() - last);
    return { result, heldMs: Math.max(longestGap, histogram.max / 1e6) };
  } finally {
    clearInterval(ticker);
    histogram.disable();
  }
}

/** How many turns the event loop got while `work` ran: a task that re-queues itself counts them. */
export async function turnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let counting = true;
  const tick = (): void => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    return { result: await work(), turns };
  } finally {
    counting = false;
  }
}
