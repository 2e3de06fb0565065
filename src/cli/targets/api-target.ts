import { FrontdeskError } from "../../core/errors.ts";
import type { SessionEvent, SessionStats } from "../../core/model.ts";
import type { ListSessionsOptions, ReadEventsOptions } from "../../core/session-manager.ts";
import type { SessionFilters, SessionListing, SessionTarget, SessionTargetRef, SessionView } from "./types.ts";

/** A session named by id and owner, as both the manager and the HTTP client take it. */
export type OwnedRef = { readonly id: string; readonly userId: string | null };

/**
 * What the CLI uses of a session API. `SessionManager` and `FrontdeskClient` both have exactly
 * these methods with the same meaning and error codes, which is what lets one target serve both.
 */
export interface SessionApi {
  listSessions(
    options: ListSessionsOptions,
  ): Promise<{ readonly items: readonly SessionView[]; readonly nextCursor: string | null }>;
  get(ref: OwnedRef): Promise<SessionView>;
  readEvents(ref: OwnedRef, options: ReadEventsOptions): Promise<readonly SessionEvent[]>;
  getStatistics(ref: OwnedRef): Promise<Readonly<SessionStats>>;
  delete(ref: OwnedRef): Promise<boolean>;
  exportSession(ref: OwnedRef): AsyncIterable<string>;
}

const notFound = (): FrontdeskError => new FrontdeskError("not_found", "Session not found");

/** A {@link SessionTarget} over any {@link SessionApi}; subclasses add import and close. */
export abstract class ApiTarget implements SessionTarget {
  abstract readonly kind: "store" | "server";

  constructor(protected readonly api: SessionApi) {}

  abstract importSession(
    lines: AsyncIterable<string>,
    options: { sessionId?: string; userId?: string },
  ): Promise<SessionView>;
  abstract close(): Promise<void>;

  async list(filters: SessionFilters): Promise<SessionListing> {
    return this.api.listSessions({
      userId: filters.userId,
      status: filters.status,
      tags: filters.tags,
      text: filters.text,
      limit: filters.limit,
      cursor: filters.cursor,
    });
  }

  async get(ref: SessionTargetRef): Promise<SessionView> {
    return this.api.get(await this.resolve(ref));
  }

  async lastEvents(ref: SessionTargetRef, count: number): Promise<readonly SessionEvent[]> {
    if (count === 0) return [];
    return this.api.readEvents(await this.resolve(ref), { last: count });
  }

  async stats(ref: SessionTargetRef): Promise<Readonly<SessionStats>> {
    return this.api.getStatistics(await this.resolve(ref));
  }

  async delete(ref: SessionTargetRef): Promise<void> {
    if (!(await this.api.delete(await this.resolve(ref)))) throw notFound();
  }

  async *exportSession(ref: SessionTargetRef): AsyncIterable<string> {
    yield* this.api.exportSession(await this.resolve(ref));
  }

  /**
   * The session's owner when the command line did not name one. A session's key includes its
   * owner, so the id alone may match several sessions: then the caller must pick with `--user`.
   * This scans the list the caller may see (every owner for a store or an admin key), which is
   * fine for an operator's command, never for a hot path.
   */
  protected async resolve(ref: SessionTargetRef): Promise<OwnedRef> {
    if (ref.userId !== undefined) return { id: ref.id, userId: ref.userId };
    const owners: (string | null)[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.api.listSessions({ limit: 1000, cursor, orderBy: "createdAt", order: "asc" });
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
