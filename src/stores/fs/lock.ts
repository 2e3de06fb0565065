/**
 * Mutual exclusion for one path, inside this process and across processes sharing the root.
 *
 * In process, waiters queue on a promise chain shared by every store instance in the process, so
 * two instances on one root never poll each other's lock directory. Across processes,
 * proper-lockfile's `mkdir` lock directory excludes everyone else; a holder that died leaves a
 * directory whose mtime stops moving, and after `staleMs` the next waiter takes it over.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { lock as lockPath } from "proper-lockfile";
import { FrontdeskError } from "../../core/errors.ts";

export interface LockSettings {
  /** A lock whose holder stopped refreshing it for this long is taken over. */
  readonly staleMs: number;
  /** Give up with `unavailable` after waiting this long. */
  readonly timeoutMs: number;
}

/** Proof of holding a lock; checked right before a commit point. */
export interface LockGuard {
  /** Throws `unavailable` when another process took the lock over (we stalled past `staleMs`). */
  assertHeld(): void;
}

/** Tails of the in-process queues, per lock path, shared by every store in this process. */
const queues = new Map<string, Promise<void>>();

async function inProcess<R>(key: string, work: () => Promise<R>): Promise<R> {
  const previous = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const tail = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
  queues.set(key, tail);
  await previous;
  try {
    return await work();
  } finally {
    release();
    if (queues.get(key) === tail) queues.delete(key);
  }
}

const FIRST_RETRY_MS = 1;
const MAX_RETRY_MS = 25;

/**
 * Runs `work` while holding the lock directory `lockDir` (its parent must exist). Waits with
 * jittered backoff while another process holds it.
 */
export function withLock<R>(
  lockDir: string,
  settings: LockSettings,
  work: (guard: LockGuard) => Promise<R>,
): Promise<R> {
  return inProcess(lockDir, async () => {
    let compromised: Error | undefined;
    const deadline = Date.now() + settings.timeoutMs;
    let delay = FIRST_RETRY_MS;
    let release: () => Promise<void>;
    for (;;) {
      try {
        release = await lockPath(lockDir, {
          lockfilePath: lockDir,
          realpath: false,
          stale: settings.staleMs,
          retries: 0,
          onCompromised: (error) => {
            compromised = error;
          },
        });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
        if (Date.now() >= deadline) {
          throw new FrontdeskError(
            "unavailable",
            `Timed out after ${settings.timeoutMs} ms waiting for a lock held by another process`,
            { cause: error },
          );
        }
        await sleep(delay * (0.5 + Math.random()));
        delay = Math.min(MAX_RETRY_MS, delay * 2);
      }
    }
    const guard: LockGuard = {
      assertHeld() {
        if (compromised) {
          throw new FrontdeskError(
            "unavailable",
            "Lost a filesystem lock to another process: the write was abandoned",
            {
              cause: compromised,
            },
          );
        }
      },
    };
    try {
      return await work(guard);
    } finally {
      // A compromised lock already belongs to someone else: releasing it would break theirs.
      if (!compromised) await release().catch(() => undefined);
    }
  });
}
