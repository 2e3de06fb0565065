import { FrontdeskError } from "../../core/errors.ts";
import type { SessionEvent, SessionStats } from "../../core/model.ts";
import { SessionManager } from "../../core/session-manager.ts";
import type { SessionStore } from "../../stores/types.ts";
import type { SessionFilters, SessionListing, SessionTarget, SessionTargetRef, SessionView } from "./types.ts";

const notFound = (): FrontdeskError => new FrontdeskError("not_found", "Session not found");

/**
 * A store opened in this process, read and written through an unbound {@link SessionManager}, so
 * the CLI gets the core's semantics (expiry, stats, export format) and sees every owner.
 */
export class DirectTarget implements SessionTarget {
  readonly kind = "store";
  readonly manager: SessionManager;

  constructor(
    readonly store: SessionStore,
    namespace: string,
  ) {
    // The CLI never creates sessions from defaults (import brings its own header and TTL).
    this.manager = new SessionManager(() => ({}), store, namespace, { defaultTtlMs: null });
  }

  async list(filters: SessionFilters): Promise<SessionListing> {
    return this.manager.listSessions({
      userId: filters.userId,
      status: filters.status,
      tags: filters.tags,
      text: filters.text,
      limit: filters.limit,
      cursor: filters.cursor,
    });
  }

  async get(ref: SessionTargetRef): Promise<SessionView> {
    return this.manager.get(await this.resolve(ref));
  }

  async lastEvents(ref: SessionTargetRef, count: number): Promise<readonly SessionEvent[]> {
    if (count === 0) return [];
    return this.manager.readEvents(await this.resolve(ref), { last: count });
  }

  async stats(ref: SessionTargetRef): Promise<Readonly<SessionStats>> {
    return this.manager.getStatistics(await this.resolve(ref));
  }

  async delete(ref: SessionTargetRef): Promise<void> {
    if (!(await this.manager.delete(await this.resolve(ref)))) throw notFound();
  }

  async *exportSession(ref: SessionTargetRef): AsyncIterable<string> {
    yield* this.manager.exportSession(await this.resolve(ref));
  }

  async importSession(lines: AsyncIterable<string>, options: { sessionId?: string }): Promise<SessionView> {
    return this.manager.importSession(lines, options);
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  /**
   * The session's owner when the command line did not name one. A session's key includes its
   * owner, so the id alone may match several sessions: then the caller must pick with `--user`.
   * This scans the namespace's list, which is fine for an operator's command, never for a hot path.
   */
  private async resolve(ref: SessionTargetRef): Promise<{ id: string; userId: string | null }> {
    if (ref.userId !== undefined) return { id: ref.id, userId: ref.userId };
    const owners: (string | null)[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.manager.listSessions({ limit: 1000, cursor, orderBy: "createdAt", order: "asc" });
      for (const session of page.items) if (session.id === ref.id) owners.push(session.userId);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    if (owners.length === 0) throw notFound();
    if (owners.length > 1) {
      const names = owners.map((owner) => owner ?? "(none)").join(", ");
      throw new FrontdeskError(
        "invalid_request",
        `Session ${ref.id} exists for several users (${names}): choose one with --user`,
      );
    }
    return { id: ref.id, userId: owners[0] ?? null };
  }
}
