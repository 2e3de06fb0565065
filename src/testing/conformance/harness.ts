import type { FakeClock } from "../../core/clock.ts";
import type { SessionStore } from "../../stores/types.ts";

/** Describes one backend to the conformance suite; the suite owns the lifecycle. */
export interface StoreHarness {
  name: string;
  /** Once before all cases (start a server, create a database). */
  setup?(): Promise<void>;
  /** Once after all cases. */
  teardown?(): Promise<void>;
  /**
   * A fresh store for one case. `prefix` is random per case: use it as the schema, key prefix or
   * folder so cases never see each other's data. Time must come from `clock`.
   */
  create(context: { clock: FakeClock; prefix: string }): Promise<SessionStore>;
  /**
   * A second instance on the same backend as `store` ("another server instance"): required when
   * `store.capabilities.shared`. The suite closes it.
   */
  createPeer?(store: SessionStore, context: { clock: FakeClock; prefix: string }): Promise<SessionStore>;
}

/** The test runner's functions, injected so `frontdesk/testing` does not depend on vitest. */
export interface Runner {
  describe: (name: string, body: () => void) => void;
  it: (name: string, body: () => Promise<void> | void, timeoutMs?: number) => void;
  beforeEach: (body: () => Promise<void> | void) => void;
  afterEach: (body: () => Promise<void> | void) => void;
  beforeAll: (body: () => Promise<void> | void) => void;
  afterAll: (body: () => Promise<void> | void) => void;
}
