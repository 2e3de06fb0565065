/**
 * The instrument that times a checkpoint saver's own work in a graph step.
 *
 * A saver's time is the wall time during which at least one of its calls (getTuple, put,
 * putWrites, list, getDeltaChannelHistory) is in flight, minus the time the thread spent running
 * other code meanwhile. Overlapping or nested calls count once.
 *
 * The subtraction matters because LangGraph does not wait for its saver: it fires `putWrites` and
 * goes on, two microtask turns later, to run its reducers over the whole state (O(history)), then
 * runs the next node while `put` is in flight. A saver that finishes within those two turns (a
 * synchronous driver, as SqliteSaver's) was never charged for that work; one whose calls take more
 * turns (any saver over an async API) was charged all of it, so its "own" time grew with the
 * conversation through LangGraph's reducer alone. Code counts as the saver's when it runs in a
 * call's synchronous part or in an async continuation created by the saver's code (tracked with
 * async_hooks). Time with nothing running (waiting for I/O) while a call is in flight counts as
 * the saver's, so a saver over a network store is charged its round trips.
 */
import { createHook, executionAsyncId } from "node:async_hooks";
import { performance } from "node:perf_hooks";
import type { BaseCheckpointSaver } from "@langchain/langgraph";

export interface SaverTiming {
  /** Microseconds of the saver's own time (see above), since the instrument was attached. */
  busyUs: number;
  /** `put` calls: one per graph step (superstep) that produced a checkpoint. */
  steps: number;
}

const TIMED_METHODS = ["getTuple", "put", "putWrites", "list", "getDeltaChannelHistory"] as const;

/** Who the thread is running for, while any instrumented saver call is in flight. */
class Attribution {
  inFlight = 0;
  /** Async resources (continuations) created by saver code during the current flight. */
  private readonly owned = new Set<number>();
  /** One entry per async callback being run: whether it is the saver's. */
  private readonly running: boolean[] = [];
  private saverSync = 0;
  private mark = 0;
  private flightStart = 0;
  private foreignMs = 0;

  constructor() {
    createHook({
      init: (id) => {
        if (this.inFlight > 0 && this.runningSaver()) this.owned.add(id);
      },
      before: (id) => {
        this.segment();
        this.running.push(this.owned.has(id));
      },
      after: () => {
        this.segment();
        this.running.pop();
      },
    }).enable();
  }

  private runningSaver(): boolean {
    if (this.saverSync > 0) return true;
    const top = this.running.at(-1);
    return top === true || (top === undefined && this.owned.has(executionAsyncId()));
  }

  /** Closes the segment since the last switch, charging it to other code when that was running. */
  private segment(): void {
    const now = performance.now();
    // Nothing running (top undefined, not the saver's sync part) is waiting: the saver's, if anyone's.
    if (this.inFlight > 0 && this.saverSync === 0 && this.running.at(-1) === false) this.foreignMs += now - this.mark;
    this.mark = now;
  }

  /** Runs a call's synchronous part as the saver's. */
  sync<T>(body: () => T): T {
    this.segment();
    this.saverSync += 1;
    try {
      return body();
    } finally {
      this.segment();
      this.saverSync -= 1;
    }
  }

  /** A call begins; returns nothing, `end` closes it. */
  begin(): void {
    if (this.inFlight++ > 0) return;
    this.segment();
    this.flightStart = this.mark;
    this.foreignMs = 0;
  }

  /** A call ends; when it was the last in flight, returns the saver's time of the flight in µs. */
  end(): number {
    if (--this.inFlight > 0) return 0;
    this.inFlight = 1;
    this.segment();
    this.inFlight = 0;
    this.owned.clear();
    return Math.max(0, this.mark - this.flightStart - this.foreignMs) * 1000;
  }
}

let attribution: Attribution | undefined;

/** Wraps the saver instance's own methods (not its class) so every call is timed. */
export function instrument(saver: BaseCheckpointSaver): SaverTiming {
  attribution ??= new Attribution();
  const clock = attribution;
  const timing: SaverTiming = { busyUs: 0, steps: 0 };
  const target = saver as unknown as Record<string, unknown>;
  for (const name of TIMED_METHODS) {
    const original = target[name];
    if (typeof original !== "function") continue;
    const begin = () => {
      clock.begin();
      if (name === "put") timing.steps++;
    };
    const end = () => {
      timing.busyUs += clock.end();
    };
    if (name === "list") {
      // An async generator: in flight from the first pull until it is exhausted, fails or is closed.
      target[name] = (...args: unknown[]): AsyncGenerator<unknown> => {
        const inner = clock.sync(() => (original as (...a: unknown[]) => AsyncGenerator<unknown>).apply(saver, args));
        let state: "idle" | "open" | "closed" = "idle";
        const pull = (step: () => Promise<IteratorResult<unknown>>) => {
          if (state === "idle") {
            state = "open";
            begin();
          }
          const close = () => {
            if (state !== "open") return;
            state = "closed";
            end();
          };
          return clock.sync(step).then(
            (result) => {
              if (result.done) close();
              return result;
            },
            (error: unknown) => {
              close();
              throw error;
            },
          );
        };
        const wrapped = {
          next: (...a: [] | [unknown]) => pull(() => inner.next(...a)),
          return: (value?: unknown) => pull(() => inner.return(value)),
          throw: (error?: unknown) => pull(() => inner.throw(error)),
          [Symbol.asyncIterator]() {
            return wrapped;
          },
          [Symbol.asyncDispose]: async () => {
            await wrapped.return();
          },
        };
        return wrapped as unknown as AsyncGenerator<unknown>;
      };
    } else {
      target[name] = (...args: unknown[]): Promise<unknown> => {
        begin();
        let result: Promise<unknown>;
        try {
          result = Promise.resolve(clock.sync(() => (original as (...a: unknown[]) => unknown).apply(saver, args)));
        } catch (error) {
          end();
          return Promise.reject(error);
        }
        return result.finally(end);
      };
    }
  }
  return timing;
}
