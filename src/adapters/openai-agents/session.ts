/**
 * `FrontdeskSession`: the OpenAI Agents SDK's `Session` on a Frontdesk session. Every operation is
 * one atomic commit made against the version it read (compare-and-set), retried from a fresh read
 * when another writer got there first: concurrent writers, in one process or many, never pop one
 * item twice, never lose one, and keep each writer's items in order.
 */
import {
  type AgentInputItem,
  applySessionHistoryMutations,
  type SessionHistoryRewriteArgs,
  type SessionHistoryRewriteAwareSession,
  type SessionHistoryTransactionArgs,
  type SessionHistoryTransactionAwareSession,
} from "@openai/agents-core";
import {
  type EventInput,
  FrontdeskError,
  isFrontdeskError,
  newSessionId,
  type SessionEvent,
  type SessionManager,
} from "../../index.ts";
import { AdapterBackend, type AdapterOptions, externalSessionId } from "../shared/backend.ts";
import { copyStored } from "../shared/copy.ts";
import {
  BOTTOM,
  EMPTY_HISTORY,
  HISTORY_STATE_KEY,
  type HistoryState,
  historyOf,
  markerEvent,
  normalized,
  type Position,
  type RangeReader,
  walk,
} from "./history.ts";
import { canonicalJson, itemEvent } from "./items.ts";
import { checkedTransaction, operationKey, transactionDigest } from "./transactions.ts";

/** The shared adapter options, plus the SDK's conversation id. */
export interface FrontdeskSessionOptions extends AdapterOptions {
  /**
   * The SDK's id of this conversation, any string; `getSessionId()` returns it. The Frontdesk
   * session keeps it as its id when it fits Frontdesk's id pattern, else a stable digest of it,
   * with the original in `metadata.openaiAgents.sessionId`. @default a new random id
   */
  sessionId?: string;
  /** Attempts of one operation against concurrent writers before it fails with `conflict`. @default 100 */
  maxRetries?: number;
}

/** One read of the session: its version and last seq, and the history its state names. */
interface Snapshot {
  readonly version: number;
  readonly lastSeq: number;
  readonly history: HistoryState;
  readonly exists: boolean;
}

/** What one attempt commits: events (the new history state rides on the last one), and its result. */
interface Step<T> {
  readonly result: T;
  readonly events?: EventInput[];
  readonly next?: HistoryState;
  readonly idempotencyKey?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A session of the OpenAI Agents SDK stored in Frontdesk: messages, tool calls and results as
 * first-class events (shown by the console, streamed, exported), other items as `custom` events.
 *
 * @example
 * const session = new FrontdeskSession({ store: "sqlite:./sessions.db", sessionId: "chat-42", userId: "alice" });
 * const result = await run(agent, "What is the weather in Lisbon?", { session });
 */
export class FrontdeskSession implements SessionHistoryTransactionAwareSession, SessionHistoryRewriteAwareSession {
  /** The Frontdesk session id the SDK's id maps to (the console, the CLI and the HTTP API show it). */
  readonly frontdeskSessionId: string;
  private readonly sessionId: string;
  private readonly backend: AdapterBackend;
  private readonly maxRetries: number;
  private created = false;

  constructor(options: FrontdeskSessionOptions = {}) {
    const { sessionId, maxRetries, ...adapter } = options;
    if (sessionId !== undefined && (typeof sessionId !== "string" || sessionId.length === 0)) {
      throw new FrontdeskError("invalid_request", "sessionId must be a non-empty string");
    }
    this.sessionId = sessionId ?? newSessionId();
    this.frontdeskSessionId = externalSessionId(this.sessionId);
    this.backend = new AdapterBackend(adapter);
    this.maxRetries = maxRetries ?? 100;
  }

  /** The SDK's id of this conversation, as given in the options (or made up when none was). */
  async getSessionId(): Promise<string> {
    return this.sessionId;
  }

  /** The newest `limit` items (all without one), oldest first; reads only those items' events. */
  async getItems(limit?: number): Promise<AgentInputItem[]> {
    if (limit !== undefined && !(limit > 0)) return [];
    const manager = await this.manager();
    const snapshot = await this.snapshot(manager, false);
    const count = limit === undefined ? Number.POSITIVE_INFINITY : Math.floor(limit);
    const { entries } = await walk(this.reader(manager), snapshot.history, count);
    return entries.reverse().map((entry) => copyStored(entry.item));
  }

  /** Appends the items in one commit; a concurrent writer's items land wholly before or after them. */
  async addItems(items: AgentInputItem[]): Promise<void> {
    if (items.length === 0) return;
    const events = items.map(itemEvent);
    await this.commit(true, async (snapshot, read) => {
      const { history, lastSeq } = snapshot;
      if (history.end === lastSeq) {
        // The top run ends the log: the items extend it, with no marker.
        return {
          result: undefined,
          events,
          next: { ...history, end: lastSeq + events.length, count: history.count + events.length },
        };
      }
      const below = await normalized(read, history);
      return {
        result: undefined,
        events: [markerEvent("run", below), ...events],
        next: { ...history, head: lastSeq + 1, end: lastSeq + 1 + events.length, count: history.count + events.length },
      };
    });
  }

  /** Removes the newest item and returns exactly that item: two concurrent pops never get the same one. */
  async popItem(): Promise<AgentInputItem | undefined> {
    return this.commit(false, async (snapshot, read) => {
      const { history, lastSeq } = snapshot;
      if (history.count === 0) return { result: undefined };
      const { entries, rest } = await walk(read, history, 1, true);
      const top = entries[0];
      // Fewer items than counted: pruning, or a redacted marker, ended the history below them.
      if (!top) return { result: undefined };
      return {
        result: copyStored(top.item),
        events: [markerEvent("pop", rest, { seq: top.seq })],
        next: { ...history, head: lastSeq + 1, end: lastSeq + 1, count: history.count - 1 },
      };
    });
  }

  /** Empties the history (its events stay in the log, behind a `clear` marker) and forgets operation ids. */
  async clearSession(): Promise<void> {
    await this.commit(false, async (snapshot) => {
      if (!snapshot.exists) return { result: undefined };
      const { history, lastSeq } = snapshot;
      return {
        result: undefined,
        events: [markerEvent("clear", BOTTOM)],
        next: { head: lastSeq + 1, end: lastSeq + 1, count: 0, epoch: history.epoch + 1 },
      };
    });
  }

  /**
   * Replaces the whole history with `items` (a compaction item and the suffix it keeps) in one
   * commit, keeping the session, its id and its earlier events.
   */
  async replaceHistoryWithCompaction(items: AgentInputItem[]): Promise<void> {
    const events = items.map(itemEvent);
    await this.commit(true, async ({ history, lastSeq }) => ({
      result: undefined,
      events: [markerEvent("compaction", BOTTOM), ...events],
      next: { ...history, head: lastSeq + 1, end: lastSeq + 1 + events.length, count: events.length },
    }));
  }

  /**
   * Applies the SDK's history mutations (a function call replaced by its callId). They may touch any
   * item, so this reads the whole history; only the part from the first changed item on is
   * appended again, behind a `rewrite` marker.
   */
  async applyHistoryMutations(args: SessionHistoryRewriteArgs): Promise<void> {
    if (!Array.isArray(args?.mutations)) {
      throw new FrontdeskError("invalid_request", "applyHistoryMutations needs { mutations: [...] }");
    }
    if (args.mutations.length === 0) return;
    await this.commit(false, async ({ history, lastSeq }, read) => {
      if (history.count === 0) return { result: undefined };
      const entries = (await walk(read, history, Number.POSITIVE_INFINITY)).entries.reverse();
      const next = applySessionHistoryMutations(
        entries.map((entry) => copyStored(entry.item)),
        args.mutations,
      );
      let same = 0;
      while (
        same < entries.length &&
        same < next.length &&
        canonicalJson((entries[same] as { item: AgentInputItem }).item) === canonicalJson(next[same])
      ) {
        same++;
      }
      if (same === entries.length && same === next.length) return { result: undefined };
      const kept = entries[same - 1];
      const below: Position = kept ? { head: kept.head, end: kept.seq } : BOTTOM;
      const events = next.slice(same).map(itemEvent);
      return {
        result: undefined,
        events: [markerEvent("rewrite", below), ...events],
        next: { ...history, head: lastSeq + 1, end: lastSeq + 1 + events.length, count: next.length },
      };
    });
  }

  /**
   * Applies one history transaction atomically and at most once per operation id: the id is
   * recorded in the commit that makes the change. Repeating it with the same transaction changes
   * nothing; with another, it is `conflict`; a suffix that no longer matches is
   * `precondition_failed`. Nothing is written when it fails.
   */
  async applyHistoryTransaction(args: SessionHistoryTransactionArgs): Promise<void> {
    const { operationId, transaction } = checkedTransaction(args);
    const digest = transactionDigest(transaction);
    const replacement = transaction.type === "append_items" ? transaction.items : transaction.replacement;
    const events = replacement.map(itemEvent);
    const manager = await this.manager();
    await this.commit(true, async ({ history, lastSeq }, read) => {
      const key = operationKey(history.epoch, operationId);
      const applied = await manager.store.findIdempotency(
        { namespace: manager.namespace, userId: manager.userId, id: this.frontdeskSessionId },
        key,
      );
      if (applied) {
        const [marker] = await read(applied.firstSeq, applied.firstSeq);
        // A marker pruned or redacted since no longer tells which transaction it was: the id was applied.
        const recorded = marker?.seq === applied.firstSeq && !marker.redacted;
        if (recorded && (marker as { data?: { digest?: string } }).data?.digest !== digest) {
          throw new FrontdeskError("conflict", "This operationId was applied with a different history transaction");
        }
        return { result: undefined };
      }
      let below: Position;
      let removed = 0;
      if (transaction.type === "append_items") {
        below = await normalized(read, history);
      } else {
        removed = transaction.expectedSuffix.length;
        const { entries, rest } = await walk(read, history, removed, true);
        const actual = entries.reverse().map((entry) => entry.item);
        if (actual.length !== removed || canonicalJson(actual) !== canonicalJson(transaction.expectedSuffix)) {
          throw new FrontdeskError(
            "precondition_failed",
            "The session history no longer ends with the expected suffix",
          );
        }
        below = rest;
      }
      return {
        result: undefined,
        idempotencyKey: key,
        events: [markerEvent("transaction", below, { kind: transaction.type, digest }), ...events],
        next: {
          ...history,
          head: lastSeq + 1,
          end: lastSeq + 1 + events.length,
          count: history.count - removed + events.length,
        },
      };
    });
  }

  /** Closes the store when this session opened it from a URL. */
  close(): Promise<void> {
    return this.backend.close();
  }

  private manager(): Promise<SessionManager> {
    return this.backend.managerFor();
  }

  private reader(manager: SessionManager): RangeReader {
    return (from, to) =>
      manager.readEvents(this.frontdeskSessionId, { after: from - 1, limit: to - from + 1 }) as Promise<
        readonly SessionEvent[]
      >;
  }

  private async snapshot(manager: SessionManager, create: boolean): Promise<Snapshot> {
    for (;;) {
      try {
        const session = await manager.get(this.frontdeskSessionId);
        return {
          version: session.version,
          lastSeq: session.lastSeq,
          history: historyOf(session.state as Record<string, unknown>),
          exists: true,
        };
      } catch (error) {
        if (!isFrontdeskError(error, "not_found")) throw error;
        if (!create) return { version: 0, lastSeq: 0, history: EMPTY_HISTORY, exists: false };
        await this.create(manager);
      }
    }
  }

  private async create(manager: SessionManager): Promise<void> {
    await manager.create({
      sessionId: this.frontdeskSessionId,
      metadata: { openaiAgents: { sessionId: this.sessionId } },
      ifExists: "return",
    });
    this.created = true;
  }

  /**
   * Plans one change against a fresh read and commits it at the version read. A concurrent commit
   * makes the append fail whole (`precondition_failed`), and the change is planned again on what
   * that writer left; nothing is merged.
   */
  private async commit<T>(
    create: boolean,
    plan: (snapshot: Snapshot, read: RangeReader) => Promise<Step<T>>,
  ): Promise<T> {
    const manager = await this.manager();
    const read = this.reader(manager);
    for (let attempt = 0; ; attempt++) {
      const snapshot = await this.snapshot(manager, create && !this.created);
      const step = await plan(snapshot, read);
      if (!step.events || step.events.length === 0) return step.result;
      const events = [...step.events];
      const last = events.length - 1;
      events[last] = { ...events[last], stateDelta: { [HISTORY_STATE_KEY]: { ...step.next } } } as EventInput;
      try {
        await manager.appendEvents(this.frontdeskSessionId, events, {
          expectedVersion: snapshot.version,
          idempotencyKey: step.idempotencyKey,
        });
        return step.result;
      } catch (error) {
        const raced =
          isFrontdeskError(error, "precondition_failed") ||
          // Another writer recorded the same operation id first: the next read tells which it was.
          (step.idempotencyKey !== undefined && isFrontdeskError(error, "conflict")) ||
          (create && isFrontdeskError(error, "not_found"));
        if (!raced) throw error;
        if (isFrontdeskError(error, "not_found")) this.created = false;
        if (attempt + 1 >= this.maxRetries) {
          throw new FrontdeskError("conflict", `Gave up after ${this.maxRetries} attempts against concurrent writers`, {
            cause: error,
          });
        }
        await sleep(Math.random() * Math.min(2 ** attempt, 50));
      }
    }
  }
}
