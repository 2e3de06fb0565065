import { SessionManager } from "../../core/session-manager.ts";
import type { SessionStore } from "../../stores/types.ts";
import { ApiTarget } from "./api-target.ts";
import type { SessionView } from "./types.ts";

/**
 * A store opened in this process, read and written through an unbound {@link SessionManager}, so
 * the CLI gets the core's semantics (expiry, stats, export format) and sees every owner.
 */
export class DirectTarget extends ApiTarget {
  readonly kind = "store";

  constructor(
    readonly store: SessionStore,
    readonly manager: SessionManager,
  ) {
    super(manager);
  }

  static open(store: SessionStore, namespace: string): DirectTarget {
    // The CLI never creates sessions from defaults (an import brings its own header and TTL).
    return new DirectTarget(store, new SessionManager(() => ({}), store, namespace, { defaultTtlMs: null }));
  }

  /** Keeps the exported owner, unless `userId` names another. */
  async importSession(
    lines: AsyncIterable<string>,
    options: { sessionId?: string; userId?: string },
  ): Promise<SessionView> {
    const manager = options.userId === undefined ? this.manager : this.manager.forUser(options.userId);
    return manager.importSession(lines, { sessionId: options.sessionId });
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
