/**
 * Edits of a session's past that keep its log honest: a redaction replaces one event's content with
 * a tombstone, hiding the last items redacts several at once (OpenAI Agents' `popItem`, a rewind),
 * and pruning removes what a retention policy no longer keeps, leaving one marker in its place.
 *
 * Each is one commit with a new version. Seqs never move. Each also appends one
 * `frontdesk.history_changed` notice at the head of the log, so a live subscriber (which only reads
 * forward) learns that something behind it changed, and every shared cache of the log drops what
 * it held.
 */
import { FrontdeskError, isFrontdeskError } from "../errors.ts";
import { newEventId } from "../ids.ts";
import { HISTORY_CHANGED, PRUNED_MARKER } from "../log-markers.ts";
import type { JsonObject, Redaction, SessionEvent, SessionKey } from "../model.ts";
import { deepFreeze } from "../state.ts";
import type { ListCursor } from "../store-contract.ts";
import { TURN_DELTA_EVENT, turnDeltaOf } from "../turn-deltas.ts";
import { keyOf, keyOfHeader, type ManagerContext } from "./context.ts";
import { parseRetentionPolicy, type RetentionPolicy, retentionFor } from "./retention.ts";
import type { Session, SessionRef, WriteOptions } from "./types.ts";
import { invalid, positiveInt } from "./validation.ts";
import { write, writeUnpresented } from "./write-path.ts";

export { HISTORY_CHANGED, PRUNED_MARKER };
/** Custom events only Frontdesk writes: appends refuse these names, and they have no content to redact. */
export const RESERVED_CUSTOM_NAMES: ReadonlySet<string> = new Set([PRUNED_MARKER, HISTORY_CHANGED]);

export interface RedactInput {
  reason: string;
  /** Who asks: an API key id or a user id. @default the manager's owner, else "library" */
  by?: string;
}

export interface RedactResult<S extends object = JsonObject> {
  readonly session: Session<S>;
  /** The events as they are now stored: tombstones. */
  readonly events: readonly SessionEvent[];
}

export interface HideLastResult<S extends object = JsonObject> extends RedactResult<S> {
  /** The events as they were before, newest last: what `popItem` hands back. */
  readonly hidden: readonly SessionEvent[];
}

export interface PruneResult {
  /** Events removed by this prune (0: nothing was due). */
  readonly removed: number;
  /** Every seq up to this one is now stood for by the marker; 0 when the log was never pruned. */
  readonly prunedThrough: number;
}

const REDACTED_TEXT = "[redacted]";

const isFrontdeskEvent = (event: SessionEvent): boolean =>
  event.type === "custom" && RESERVED_CUSTOM_NAMES.has(event.name);

/**
 * The event with its content gone: the envelope, the type and the fields that only name or pair
 * things (role, tool, invocation and approval ids, statuses) stay, so every reader still folds the
 * log; text becomes "[redacted]", every other value is dropped.
 */
export function tombstoneOf(event: SessionEvent, redacted: Redaction): SessionEvent {
  const base = { seq: event.seq, id: event.id, at: event.at, redacted };
  switch (event.type) {
    case "message":
      return {
        ...base,
        type: "message",
        role: event.role,
        content: REDACTED_TEXT,
        ...(event.toolCallId === undefined ? {} : { toolCallId: event.toolCallId }),
      };
    case "tool_call":
      return { ...base, type: "tool_call", invocationId: event.invocationId, tool: event.tool };
    case "tool_result":
      return { ...base, type: "tool_result", invocationId: event.invocationId, tool: event.tool, status: event.status };
    case "state":
      return { ...base, type: "state" };
    case "status":
      return {
        ...base,
        type: "status",
        status: event.status,
        ...(event.scope === undefined ? {} : { scope: event.scope }),
        ...(event.previous === undefined ? {} : { previous: event.previous }),
      };
    case "summary":
      return { ...base, type: "summary", text: REDACTED_TEXT, throughSeq: event.throughSeq };
    case "custom":
      return { ...base, type: "custom", name: event.name };
    case "approval_request":
      return {
        ...base,
        type: "approval_request",
        approvalId: event.approvalId,
        invocationId: event.invocationId,
        tool: event.tool,
      };
    case "approval_response":
      return { ...base, type: "approval_response", approvalId: event.approvalId, decision: event.decision };
  }
}

const redactionOf = (context: ManagerContext, input: RedactInput, now: number): Redaction => {
  if (input === null || typeof input !== "object") throw invalid("A redaction needs a reason");
  if (typeof input.reason !== "string" || input.reason.trim() === "" || input.reason.length > 4096) {
    throw invalid("A redaction needs a reason of 1-4096 characters");
  }
  const by = input.by ?? context.userId ?? "library";
  if (typeof by !== "string" || by.length === 0 || by.length > 256) throw invalid("`by` is 1-256 characters");
  return { at: now, by, reason: input.reason };
};

const notice = (seq: number, now: number, data: JsonObject): SessionEvent => ({
  seq,
  id: newEventId(),
  at: now,
  type: "custom",
  name: HISTORY_CHANGED,
  data,
});

/** One redaction commit: the tombstones of `targets`, and the notice naming them at the head of the log. */
const redactionPlan = (lastSeq: number, now: number, targets: readonly SessionEvent[], redacted: Redaction) => ({
  events: [
    notice(lastSeq + 1, now, {
      kind: "redaction",
      seqs: targets.map((event) => event.seq),
      by: redacted.by,
      reason: redacted.reason,
    }),
  ],
  rewrites: targets.map((event) => tombstoneOf(event, redacted)),
});

/** Replaces one event's content with a tombstone. Redacting a tombstone again changes nothing. */
export async function redactEvent<S extends object>(
  context: ManagerContext,
  ref: SessionRef,
  seq: number,
  input: RedactInput,
  options: WriteOptions,
): Promise<RedactResult<S>> {
  const target = positiveInt(seq, "seq");
  const key = keyOf(context, ref);
  let tombstone: SessionEvent | undefined;
  const session = await write<S>(context, key, options, async (current, _scopes, now) => {
    if (target > current.lastSeq) throw new FrontdeskError("not_found", `The session has no event ${target}`);
    const [event] = await context.store.readEvents(key, { after: target - 1, before: target + 1 });
    if (!event) {
      throw new FrontdeskError("not_found", `Event ${target} was pruned`, { details: { seq: target } });
    }
    if (isFrontdeskEvent(event))
      throw invalid(`Event ${target} is Frontdesk's own record and has no content to redact`);
    if (event.redacted) {
      tombstone = event;
      return "skip";
    }
    const pieces = await turnPiecesOf(context, key, [event]);
    const plan = redactionPlan(current.lastSeq, now, [event, ...pieces], redactionOf(context, input, now));
    tombstone = plan.rewrites[0];
    return plan;
  });
  return { session, events: deepFreeze([tombstone as SessionEvent]) };
}

/**
 * Redacts the newest `count` items (events that are not Frontdesk's own records nor already
 * redacted) in one commit: the log stays gapless, and the items are handed back as they were.
 */
export async function hideLastEvents<S extends object>(
  context: ManagerContext,
  ref: SessionRef,
  count: number,
  input: RedactInput,
  options: WriteOptions,
): Promise<HideLastResult<S>> {
  const wanted = positiveInt(count, "count");
  if (wanted > context.limits.maxEventsPerAppend) {
    throw invalid(`At most ${context.limits.maxEventsPerAppend} events are hidden at once`);
  }
  const key = keyOf(context, ref);
  let hidden: SessionEvent[] = [];
  let tombstones: SessionEvent[] = [];
  const session = await write<S>(context, key, options, async (current, _scopes, now) => {
    hidden = await newestItems(context, key, wanted);
    if (hidden.length === 0) {
      tombstones = [];
      return "skip";
    }
    const pieces = await turnPiecesOf(context, key, hidden);
    const plan = redactionPlan(current.lastSeq, now, [...hidden, ...pieces], redactionOf(context, input, now));
    tombstones = plan.rewrites.slice(0, hidden.length);
    return plan;
  });
  return { session, events: deepFreeze(tombstones), hidden: deepFreeze(hidden) };
}

/** A piece of a streamed reply (`turn.delta`): a copy of text its step's assistant message holds too. */
const isTurnPiece = (event: SessionEvent): boolean => event.type === "custom" && event.name === TURN_DELTA_EVENT;

/** How far back from an assistant message its turn's pieces are looked for. */
const PIECE_SEARCH_LIMIT = 10_000;

/**
 * The streamed pieces (`turn.delta`) of the turns whose assistant messages are among `targets`:
 * they repeat the message's text, so a redaction of the message takes them too. They sit before the
 * message, after the turn's user message, so the search stops there.
 */
async function turnPiecesOf(
  context: ManagerContext,
  key: SessionKey,
  targets: readonly SessionEvent[],
): Promise<SessionEvent[]> {
  const pieces = new Map<number, SessionEvent>();
  const targetSeqs = new Set(targets.map((event) => event.seq));
  for (const target of targets) {
    const turnId = target.type === "message" && target.role === "assistant" ? target.turnId : undefined;
    if (typeof turnId !== "string") continue;
    let before = target.seq;
    let looked = 0;
    scan: while (looked < PIECE_SEARCH_LIMIT) {
      const page = await context.store.readEvents(key, {
        before,
        limit: 200,
        order: "desc",
        types: ["custom", "message"],
      });
      for (const event of page) {
        if (event.type === "message" && event.role === "user" && event.turnId === turnId) break scan;
        const piece = isTurnPiece(event) ? turnDeltaOf(event) : undefined;
        if (piece?.turnId === turnId && !event.redacted && !targetSeqs.has(event.seq)) pieces.set(event.seq, event);
      }
      looked += page.length;
      if (page.length < 200) break;
      before = (page.at(-1) as SessionEvent).seq;
    }
  }
  return [...pieces.values()];
}

async function newestItems(context: ManagerContext, key: SessionKey, wanted: number): Promise<SessionEvent[]> {
  const items: SessionEvent[] = [];
  let before: number | undefined;
  for (;;) {
    const page = await context.store.readEvents(key, { before, limit: 100, order: "desc" });
    for (const event of page) {
      if (isFrontdeskEvent(event) || isTurnPiece(event) || event.redacted) continue;
      items.push(event);
      if (items.length === wanted) return items.reverse();
    }
    if (page.length < 100) return items.reverse();
    before = (page.at(-1) as SessionEvent).seq;
  }
}

/**
 * Removes what the policy no longer keeps, in one commit: events `1 … cut - 1` go, event `cut`
 * becomes the marker standing for them all, and a notice is appended.
 */
export async function prune(
  context: ManagerContext,
  ref: SessionRef | SessionKey,
  override?: RetentionPolicy,
  /** Prune only when at least this many events would go (automatic pruning works in batches). */
  minimum = 1,
  /**
   * Look for the newest summary only after this seq. Automatic pruning bounds its search so that a
   * session without summaries never costs a scan of its whole log per check; an explicit prune
   * looks through all of it.
   */
  summaryAfter = 0,
): Promise<PruneResult> {
  const key = typeof ref === "object" && "namespace" in ref ? ref : keyOf(context, ref);
  const policy = override === undefined ? undefined : parseRetentionPolicy(override);
  let result: PruneResult = { removed: 0, prunedThrough: 0 };
  await writeUnpresented(context, key, {}, async (current, _scopes, now) => {
    const effective = policy ?? retentionFor(context.retention, current);
    const [first] = await context.store.readEvents(key, { limit: 1 });
    const prunedThrough = first && first.type === "custom" && first.name === PRUNED_MARKER ? first.seq : 0;
    result = { removed: 0, prunedThrough };
    if (!effective || !first) return "skip";
    let cut = current.lastSeq - effective.keepLastEvents;
    if (effective.onlySummarized) {
      const [summary] = await context.store.readEvents(key, {
        after: summaryAfter,
        types: ["summary"],
        order: "desc",
        limit: 1,
      });
      if (summary?.type !== "summary" || summary.redacted) return "skip";
      cut = Math.min(cut, summary.throughSeq);
    }
    if (cut - prunedThrough < minimum || cut < first.seq) return "skip";
    // Seqs are gapless past the marker, so what goes is arithmetic: the old marker stood for nothing stored.
    const removed = prunedThrough > 0 ? cut - prunedThrough : cut - first.seq + 1;
    const marker: SessionEvent = {
      seq: cut,
      id: newEventId(),
      at: now,
      type: "custom",
      name: PRUNED_MARKER,
      data: { fromSeq: 1, throughSeq: cut },
    };
    result = { removed, prunedThrough: cut };
    return {
      events: [notice(current.lastSeq + 1, now, { kind: "prune", fromSeq: 1, throughSeq: cut })],
      removeEvents: { after: 0, before: cut },
      rewrites: [marker],
    };
  });
  return result;
}

export interface PruneAllOptions {
  /** Only this owner's sessions; every owner's on an unbound manager otherwise. */
  userId?: string | null;
  /** Called with 0 and null before the first session, then once per session pruned or looked at. */
  onProgress?: (done: number, total: number | null) => void;
}

/** Prunes every session of the namespace (or of one owner) to `policy`, a page at a time. */
export async function pruneAll(
  context: ManagerContext,
  policy: RetentionPolicy,
  options: PruneAllOptions = {},
): Promise<{ sessions: number; removed: number }> {
  const checked = parseRetentionPolicy(policy);
  const userId = context.bound ? context.userId : options.userId;
  let after: ListCursor | undefined;
  let sessions = 0;
  let removed = 0;
  options.onProgress?.(0, null);
  for (;;) {
    const page = await context.store.list({
      namespace: context.namespace,
      ...(userId === undefined ? {} : { userId }),
      orderBy: "createdAt",
      order: "asc",
      limit: 100,
      now: context.clock.now(),
      ...(after ? { after } : {}),
    });
    for (const header of page.items) {
      try {
        removed += (await prune(context, keyOfHeader(header), checked)).removed;
      } catch (error) {
        // A session deleted or expired since the page was read has nothing left to prune.
        if (!isFrontdeskError(error, "not_found")) throw error;
      }
      sessions++;
      options.onProgress?.(sessions, null);
    }
    const last = page.items.at(-1);
    if (!page.hasMore || !last) break;
    after = { value: last.createdAt, userId: last.userId, id: last.id };
  }
  return { sessions, removed };
}
