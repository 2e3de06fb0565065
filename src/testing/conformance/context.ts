import { randomBytes } from "node:crypto";
import { FakeClock } from "../../core/clock.ts";
import { type ErrorCode, isFrontdeskError } from "../../core/errors.ts";
import type { JsonObject } from "../../core/model.ts";
import { SessionManager, type SessionManagerOptions } from "../../core/session-manager.ts";
import type { SessionStore } from "../../stores/types.ts";
import type { Runner, StoreHarness } from "./harness.ts";

export interface CaseContext {
  readonly store: SessionStore;
  readonly clock: FakeClock;
  readonly prefix: string;
  /** A random namespace per case, so even a shared backend never mixes cases. */
  readonly namespace: string;
  /** A manager over the case's store with the fake clock. */
  manager<S extends object = JsonObject>(
    options?: SessionManagerOptions & { initial?: (id: string) => S; namespace?: string },
  ): SessionManager<S>;
  /** A second store instance on the same backend; undefined when the store is not shared. */
  peer(): Promise<SessionStore | undefined>;
}

/** Sets up a fresh store (and closes it, and any peer) around every case of the enclosing describe. */
export function useStore(harness: StoreHarness, runner: Runner): () => CaseContext {
  let current: CaseContext | undefined;
  let opened: SessionStore[] = [];
  runner.beforeEach(async () => {
    const clock = new FakeClock();
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const store = await harness.create({ clock, prefix });
    opened = [store];
    let peer: SessionStore | undefined;
    current = {
      store,
      clock,
      prefix,
      namespace: `ns-${prefix}`,
      manager: (options = {}) =>
        new SessionManager(options.initial ?? ((() => ({})) as never), store, options.namespace ?? `ns-${prefix}`, {
          clock,
          ...options,
        }),
      peer: async () => {
        if (!store.capabilities.shared) return undefined;
        if (!harness.createPeer) throw new Error(`${harness.name}: a shared store's harness needs createPeer`);
        if (!peer) {
          peer = await harness.createPeer(store, { clock, prefix });
          opened.push(peer);
        }
        return peer;
      },
    };
  });
  runner.afterEach(async () => {
    for (const store of opened.reverse()) await store.close();
    opened = [];
    current = undefined;
  });
  return () => {
    if (!current) throw new Error("The store is only available inside a case");
    return current;
  };
}

/** Resolves to the FrontdeskError code a promise rejected with; fails when it resolved. */
export async function codeOf(promise: Promise<unknown>): Promise<ErrorCode> {
  try {
    await promise;
  } catch (error) {
    if (isFrontdeskError(error)) return error.code;
    throw error;
  }
  throw new Error("expected a FrontdeskError, but the call succeeded");
}

/**
 * Two managers on one shared backend: `here` over the case's store, `there` over a peer instance
 * (as another process would be), and that peer store; undefined when the store is not shared, and the case has nothing
 * to prove.
 */
export async function peerManagers<S extends object = JsonObject>(
  c: CaseContext,
  initial: (id: string) => S = () => ({}) as S,
): Promise<{ here: SessionManager<S>; there: SessionManager<S>; peer: SessionStore } | undefined> {
  const peer = await c.peer();
  if (!peer) return undefined;
  return {
    here: c.manager<S>({ initial }),
    there: new SessionManager<S>(initial, peer, c.namespace, { clock: c.clock }),
    peer,
  };
}
