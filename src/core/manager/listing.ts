/**
 * Many sessions at once: the owner's sessions filtered and paged with a stable cursor, retention
 * (deleting what was not updated for a while) and the sweep of expired sessions.
 */
import { assertUserId } from "../ids.ts";
import { SessionStatusSchema, TagsSchema } from "../model.ts";
import { type ManagerContext, present } from "./context.ts";
import { remove } from "./lifecycle.ts";
import type { ListSessionsOptions, SessionPage } from "./types.ts";
import {
  decodeCursor,
  encodeCursor,
  invalid,
  nonNegativeInt,
  optionalTime,
  parseWith,
  positiveInt,
} from "./validation.ts";

/** Sessions of this manager's owner (or any owner on an unbound manager), with a stable cursor. */
export async function listSessions<S extends object>(
  context: ManagerContext,
  options: ListSessionsOptions,
): Promise<SessionPage<S>> {
  const orderBy = options.orderBy ?? "createdAt";
  const order = options.order ?? "desc";
  if (orderBy !== "createdAt" && orderBy !== "updatedAt") throw invalid("orderBy is createdAt or updatedAt");
  if (order !== "asc" && order !== "desc") throw invalid("order is asc or desc");
  const limit = Math.min(positiveInt(options.limit ?? 50, "limit"), 1000);
  let userId: string | null | undefined;
  if (context.bound) {
    if (options.userId !== undefined && options.userId !== context.userId) {
      return { items: [], nextCursor: null };
    }
    userId = context.userId;
  } else {
    userId = options.userId === undefined || options.userId === null ? options.userId : assertUserId(options.userId);
  }
  const statuses =
    options.status === undefined
      ? undefined
      : (Array.isArray(options.status) ? options.status : [options.status]).map((s) =>
          parseWith(SessionStatusSchema, s, "status"),
        );
  const tags = options.tags === undefined ? undefined : parseWith(TagsSchema, options.tags, "tags");
  const now = context.clock.now();
  const page = await context.store.list({
    namespace: context.namespace,
    userId,
    status: statuses,
    tags,
    text: options.text === undefined || options.text === "" ? undefined : String(options.text).slice(0, 256),
    createdAfter: optionalTime(options.createdAfter, "createdAfter"),
    createdBefore: optionalTime(options.createdBefore, "createdBefore"),
    updatedAfter: optionalTime(options.updatedAfter, "updatedAfter"),
    updatedBefore: optionalTime(options.updatedBefore, "updatedBefore"),
    orderBy,
    order,
    limit,
    after: options.cursor === undefined ? undefined : decodeCursor(options.cursor),
    now,
  });
  const last = page.items.at(-1);
  const items = await Promise.all(page.items.map((header) => present<S>(header, header.state)));
  return {
    items,
    nextCursor: page.hasMore && last ? encodeCursor({ value: last[orderBy], userId: last.userId, id: last.id }) : null,
  };
}

/** Deletes sessions not updated for `maxAgeMs` (retention; separate from TTL). Returns how many. */
export async function cleanupOldSessions(context: ManagerContext, maxAgeMs: number): Promise<number> {
  const age = nonNegativeInt(maxAgeMs, "maxAgeMs");
  const cutoff = context.clock.now() - age;
  let removed = 0;
  for (;;) {
    const page = await listSessions(context, { updatedBefore: cutoff, orderBy: "updatedAt", order: "asc", limit: 200 });
    for (const session of page.items) {
      if (await remove(context, { id: session.id, userId: session.userId }, {})) removed++;
    }
    if (!page.nextCursor || page.items.length === 0) return removed;
  }
}

/** Deletes sessions whose TTL has passed, with their events (they are never served meanwhile). */
export async function sweepExpired(context: ManagerContext, limit: number): Promise<number> {
  return context.store.sweep(context.clock.now(), positiveInt(limit, "limit"));
}
