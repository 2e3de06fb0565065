/**
 * Erasing one user from a namespace: their data key (crypto-shredding, where the store encrypts),
 * their API keys, every session with its events, idempotency records and index entries, and their
 * `user:` state; then the store's files are scrubbed where it keeps files.
 *
 * It is a sequence of steps that are each whole and each harmless to repeat, written down in an
 * audit log before and after: a crash midway leaves sessions either wholly there or wholly gone
 * (and unreadable at once where the store encrypts, since the key goes first), and the next run, or
 * `resumeErasures` at start-up, finishes the job. Sessions go one by one, so a server keeps
 * answering while a user with a million events is erased.
 */
import { FrontdeskError } from "../errors.ts";
import { yieldToEventLoop } from "../event-loop.ts";
import { assertUserId, newEventId } from "../ids.ts";
import type { SessionEvent, SessionHeader, SessionKey } from "../model.ts";
import { emptyStats } from "../model.ts";
import type { ManagerContext } from "./context.ts";
import { invalid } from "./validation.ts";

/** The audit log's session: owner null, never expires, in the erased user's namespace. */
export const ERASURE_LOG_ID = "frontdesk.erasures";
export const ERASURE_STARTED = "frontdesk.erasure.started";
export const ERASURE_FINISHED = "frontdesk.erasure.finished";
export const ERASURE_SCRUBBED = "frontdesk.erasure.scrubbed";

export interface EraseUserOptions {
  /** Who asks (an admin key id); kept in the audit record. @default "library" */
  by?: string;
  /** Sessions removed between two turns of the event loop. @default 1 */
  sessionsPerStep?: number;
  /**
   * Also rebuild the store's files (SQLite's VACUUM) so that no stale copy of the user's rows is
   * left in pages' unused space. It blocks the store while it runs: for offline use
   * (`frontdesk users erase --vacuum`), not inside a serving process. @default false
   */
  vacuum?: boolean;
}

export interface ErasureCounts {
  sessions: number;
  /** Events the removed sessions held (their seqs, pruned ranges included). */
  events: number;
  /** `user:` state records removed (0 or 1). */
  scopes: number;
  /** API keys of the user revoked by this run. */
  apiKeys: number;
}

export interface ErasureResult extends ErasureCounts {
  readonly erasureId: string;
  readonly userId: string;
  readonly namespace: string;
  /**
   * `pending`: a reader held the store's write-ahead log, so the scrub of its files could not
   * finish yet; it is retried until it does (`frontdesk.erasure.scrubbed` in the audit log).
   * `none`: the store keeps no files to scrub.
   */
  readonly scrub: "done" | "pending" | "none";
}

const logKey = (context: ManagerContext): SessionKey => ({
  namespace: context.namespace,
  userId: null,
  id: ERASURE_LOG_ID,
});

/**
 * Appends audit records, creating the log on first use. The records name the user, never their data.
 * Written through the store, not the manager's write path, so that the namespace's retention policy
 * never prunes the audit log and no default TTL or per-user session limit applies to it.
 */
async function audit(context: ManagerContext, name: string, data: Record<string, unknown>): Promise<void> {
  const key = logKey(context);
  for (let attempt = 0; attempt < 50; attempt++) {
    const now = context.clock.now();
    const current = await context.store.get(key, now);
    const lastSeq = current?.lastSeq ?? 0;
    const event = {
      seq: lastSeq + 1,
      id: newEventId(),
      at: now,
      type: "custom",
      name,
      data,
    } as SessionEvent;
    const header: SessionHeader = current
      ? { ...current, version: current.version + 1, lastSeq: lastSeq + 1, updatedAt: now, lastAccessedAt: now }
      : {
          ...key,
          status: "active",
          title: "Erasures",
          purpose: "Audit log of user erasures",
          tags: [],
          metadata: {},
          state: {},
          version: 1,
          lastSeq: 1,
          stats: emptyStats(),
          createdAt: now,
          updatedAt: now,
          lastAccessedAt: now,
          ttlMs: null,
          expiresAt: null,
          absoluteExpiresAt: null,
          parent: null,
        };
    try {
      await context.store.commit({ key, expectedVersion: current?.version ?? 0, header, events: [event], now });
      return;
    } catch (error) {
      if ((error as FrontdeskError).code !== "conflict") throw error;
    }
  }
  throw new FrontdeskError("conflict", "The erasure audit log is too busy; try again");
}

/**
 * Erases `userId` from the manager's namespace. Returns what this run removed; running it again is
 * harmless (it removes what a crashed run left, or nothing).
 */
export async function eraseUser(
  context: ManagerContext,
  userId: string,
  options: EraseUserOptions = {},
): Promise<ErasureResult> {
  const user = assertUserId(userId);
  if (context.bound && context.userId !== user) {
    throw new FrontdeskError("forbidden", "This manager is bound to another user");
  }
  const by = options.by ?? "library";
  if (typeof by !== "string" || by.length === 0 || by.length > 256) throw invalid("`by` is 1-256 characters");
  const perStep = options.sessionsPerStep ?? 1;
  // A run that crashed is finished under its own id, so the audit log pairs every start with an end.
  const interrupted = [...(await openErasures(context))].find(([, open]) => open.userId === user)?.[0];
  const erasureId = interrupted ?? `era_${newEventId().slice(3)}`;
  if (!interrupted) await audit(context, ERASURE_STARTED, { erasureId, userId: user, by });
  return finishErasure(context, user, by, erasureId, perStep, options.vacuum === true);
}

async function finishErasure(
  context: ManagerContext,
  user: string,
  by: string,
  erasureId: string,
  perStep: number,
  vacuum = false,
): Promise<ErasureResult> {
  const { store, namespace } = context;
  // The key goes first: from here on whatever is left of the user cannot be read, backups included.
  await store.forgetUser?.(namespace, user);
  const counts: ErasureCounts = { sessions: 0, events: 0, scopes: 0, apiKeys: 0 };
  const now = context.clock.now();
  for (const record of await store.listApiKeys()) {
    if (record.userId === user && record.revokedAt === null && (await store.revokeApiKey(record.id, now))) {
      counts.apiKeys++;
    }
  }
  for (;;) {
    // `now: 0` lists sessions already expired too: erasure takes them before `sweep` would.
    const page = await store.list({
      namespace,
      userId: user,
      orderBy: "createdAt",
      order: "asc",
      limit: Math.max(perStep, 1) * 10,
      now: 0,
    });
    if (page.items.length === 0) break;
    let step = 0;
    let removed = 0;
    for (const header of page.items) {
      const key = { namespace, userId: user, id: header.id };
      if (await store.delete(key)) {
        removed++;
        counts.sessions++;
        counts.events += header.lastSeq;
      }
      if (++step % perStep === 0) await yieldToEventLoop();
    }
    // Another run may have deleted the whole page first; but a store that lists sessions it then
    // cannot delete would keep this loop going.
    if (removed === 0 && (await store.get({ namespace, userId: user, id: (page.items[0] as SessionHeader).id }, 0))) {
      throw new FrontdeskError("unavailable", "The store lists sessions of this user that it cannot delete", {
        details: { sessions: page.items.map((header) => header.id).slice(0, 10) },
      });
    }
  }
  if (await store.eraseScope(namespace, user)) counts.scopes++;
  const scrub = store.scrub ? ((await store.scrub({ thorough: vacuum })).pending ? "pending" : "done") : "none";
  await audit(context, ERASURE_FINISHED, { erasureId, userId: user, by, ...counts, scrub });
  if (scrub === "pending") scrubWhenFree(context, erasureId);
  return { erasureId, userId: user, namespace, ...counts, scrub };
}

/** Retries the scrub until no reader holds the log, then records it. Never keeps the process alive. */
function scrubWhenFree(context: ManagerContext, erasureId: string, delayMs = 250): void {
  const timer = setTimeout(async () => {
    try {
      const { pending } = (await context.store.scrub?.()) ?? { pending: false };
      if (pending) return scrubWhenFree(context, erasureId, Math.min(delayMs * 2, 10_000));
      await audit(context, ERASURE_SCRUBBED, { erasureId });
    } catch {
      // A closed store ends the retries; the next erasure or `resumeErasures` scrubs again.
    }
  }, delayMs);
  timer.unref();
}

/**
 * Finishes erasures a crash interrupted: every `started` record of the audit log without its
 * `finished` one is run again. A server calls it at start-up.
 */
export async function resumeErasures(context: ManagerContext): Promise<ErasureResult[]> {
  const results: ErasureResult[] = [];
  for (const [erasureId, { userId, by }] of await openErasures(context)) {
    results.push(await finishErasure(context, userId, by, erasureId, 1));
  }
  return results;
}

/** The erasures the audit log shows started and not finished, by id. */
async function openErasures(context: ManagerContext): Promise<Map<string, { userId: string; by: string }>> {
  const key = logKey(context);
  const open = new Map<string, { userId: string; by: string }>();
  let after = 0;
  for (;;) {
    const batch = await context.store.readEvents(key, { after, limit: 500 });
    for (const event of batch) {
      if (event.type !== "custom") continue;
      const data = event.data as { erasureId?: string; userId?: string; by?: string } | undefined;
      if (!data?.erasureId) continue;
      if (event.name === ERASURE_STARTED && data.userId) {
        open.set(data.erasureId, { userId: data.userId, by: data.by ?? "library" });
      }
      if (event.name === ERASURE_FINISHED) open.delete(data.erasureId);
    }
    if (batch.length < 500) break;
    after = (batch.at(-1) as SessionEvent).seq;
  }
  return open;
}
