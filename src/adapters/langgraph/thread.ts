/**
 * One LangGraph thread as the saver sees it: the session behind it, what this process last knew of
 * that session (version, last seq, message count, heads), and the few checkpoints it has decoded.
 *
 * Knowing the version it last committed at is what makes a graph step cheap: `getTuple` of the
 * newest checkpoint reads the session header only, and when nobody else wrote since, the decoded
 * checkpoint is reused instead of reading the conversation again. Every read of the log goes by
 * seq, and every write is a compare-and-set on the version, so a stale cache can cost a re-read,
 * never a wrong answer.
 */
import type { BaseMessage } from "@langchain/core/messages";
import type { JsonObject, Session, SessionEvent, SessionKey, SessionManager } from "../../index.ts";
import { isHistoryChanged, isPrunedMarker } from "../shared/redaction.ts";
import type { CheckpointData, Head, Run, WritesData } from "./layout.ts";
import { headOf } from "./layout.ts";
import { callsOf } from "./tool-events.ts";

/** A message this process holds, with where it is stored. */
export interface MessageEntry {
  message: BaseMessage;
  seq: number;
  ordinal: number;
  /** The id it was stored with, to notice a message changed after it was written. */
  id: string | undefined;
}

/**
 * A decoded list of messages: where each is stored, and the message objects. The arrays may run
 * past `length` and be shared with later checkpoints' lists: a list that extends its parent's
 * appends to the same arrays when nobody appended there first, so a step costs what it adds, not
 * a copy of the conversation. Never handed out; copies of its first `length` messages are.
 */
export interface MessageList {
  entries: MessageEntry[];
  messages: BaseMessage[];
  length: number;
  /** Positions of messages stored without an id, which LangGraph's reducer may give one in place. */
  unnamed: number[];
}

export function messageList(entries: readonly MessageEntry[]): MessageList {
  const list = extendList(undefined, 0);
  for (const entry of entries) pushEntry(list, entry);
  return list;
}

/** A list that starts with the first `kept` messages of `base`, for `pushEntry` to extend. */
export function extendList(base: MessageList | undefined, kept: number): MessageList {
  if (!base) return { entries: [], messages: [], length: 0, unnamed: [] };
  const unnamed = base.unnamed.filter((position) => position < kept);
  if (base.entries.length === kept && base.messages.length === kept) {
    return { entries: base.entries, messages: base.messages, length: kept, unnamed };
  }
  return { entries: base.entries.slice(0, kept), messages: base.messages.slice(0, kept), length: kept, unnamed };
}

export function pushEntry(list: MessageList, entry: MessageEntry): void {
  if (entry.id === undefined) list.unnamed.push(list.length);
  list.entries.push(entry);
  list.messages.push(entry.message);
  list.length += 1;
}

/** A checkpoint event read (or written) by this process, with its message lists decoded on demand. */
export interface LoadedCheckpoint {
  seq: number;
  data: CheckpointData;
  /** Decoded message lists by channel, the objects handed to (or received from) LangGraph. */
  messages: Map<string, MessageList>;
  /** Messages written by `putWrites` on this checkpoint, by object, so the next `put` reuses their events. */
  written: Map<BaseMessage, MessageEntry>;
  /** Its writes events read so far, by seq (the newest checkpoint's only). */
  writeEvents?: Map<number, WritesEvent>;
}

export interface WritesEvent {
  seq: number;
  data: WritesData;
}

/** A pruned log: its marker's seq, the seqs of its message events left, and the first one's ordinal. */
export interface PrunedLog {
  cut: number;
  seqs: number[];
  firstOrdinal: number;
}

/** Past this many events committed by others, the caches are dropped rather than the events read. */
const REFRESH_SCAN = 1024;
const LOADED_PER_THREAD = 4;
const EARLY_PER_THREAD = 16;
const ORDINALS_PER_THREAD = 20_000;

/**
 * Writes that arrived before the `put` of their checkpoint. LangGraph chains each `put` after the
 * previous one, so the next step's first `putWrites` can overtake the `put` it belongs to.
 */
export interface EarlyWrites {
  seqs: number[];
  written: MessageEntry[];
}

export class ThreadView {
  version = 0;
  lastSeq = 0;
  messageCount = 0;
  title: string | null = null;
  /** Created by this process for a write that has not landed yet. */
  unwritten = false;
  state: Readonly<JsonObject> = {};
  private createdAt: number | undefined;
  private prunedView: { lastSeq: number; log: PrunedLog | undefined } | undefined;
  private loaded = new Map<string, LoadedCheckpoint>();
  private early = new Map<string, EarlyWrites>();
  /** Every message object this process wrote or read in this thread, with where it is stored. */
  known = new WeakMap<BaseMessage, MessageEntry>();
  /**
   * Messages by ordinal (position among the session's message events), so a DeltaChannel seed or a
   * cold list is decoded once per process rather than on every turn. Bounded: oldest out first.
   */
  private byOrdinal = new Map<number, MessageEntry>();
  /** The newest stored message of each id, for a copy of a message (a subgraph's state) to find its event. */
  private byId = new Map<string, MessageEntry>();
  /** Tool names by call id, from the AI messages this process wrote or read, to name a tool message's result. */
  private toolNames = new Map<string, string>();

  constructor(
    readonly manager: SessionManager,
    readonly sessionId: string,
    readonly threadId: string,
  ) {}

  get key(): SessionKey {
    return { namespace: this.manager.namespace, userId: this.manager.userId, id: this.sessionId };
  }

  /** Takes the facts of a session header just read or written. */
  absorb(session: Session): void {
    // The thread was deleted and begun again elsewhere: nothing remembered of the old one holds.
    if (this.createdAt !== undefined && this.createdAt !== session.createdAt) this.forget();
    this.createdAt = session.createdAt;
    this.version = session.version;
    this.lastSeq = session.lastSeq;
    this.messageCount = session.stats.messages;
    this.title = session.title;
    this.state = session.state;
  }

  /**
   * Takes a header just read, first checking what others committed since this process last knew
   * the thread. A redaction or a prune (each leaves a `frontdesk.history_changed` notice) changed
   * events this process may hold decoded: it drops the decoded checkpoints and message lists, so
   * the next read decodes them again, placeholders and cuts included. It keeps which stored event
   * each message object it handed out is: a graph run under way still holds the old messages, and
   * its next `put` then points at their events (read as placeholders, or cut) instead of storing
   * them again.
   */
  async refresh(session: Session): Promise<void> {
    const gap = session.lastSeq - this.lastSeq;
    if (this.version > 0 && session.version !== this.version && session.createdAt === this.createdAt && gap > 0) {
      const edited =
        gap > REFRESH_SCAN ||
        (
          await this.manager.store.readEvents(this.key, {
            after: this.lastSeq,
            limit: gap,
            types: ["custom"],
            order: "asc",
          })
        ).some((event) => event.seq <= session.lastSeq && isHistoryChanged(event));
      if (edited) {
        this.loaded = new Map();
        this.byOrdinal = new Map();
      }
    }
    this.absorb(session);
  }

  private forget(): void {
    this.loaded = new Map();
    this.early = new Map();
    this.known = new WeakMap();
    this.byOrdinal = new Map();
    this.byId = new Map();
    this.toolNames = new Map();
    this.prunedView = undefined;
  }

  /**
   * Where pruning cut the log, if it did: the marker's seq, and the seqs of the message events left
   * (whose ordinals end at the thread's message count). Read once per state of the log.
   */
  async pruned(): Promise<PrunedLog | undefined> {
    if (this.prunedView && this.prunedView.lastSeq === this.lastSeq) return this.prunedView.log;
    const [first] = await this.manager.store.readEvents(this.key, { limit: 1, order: "asc" });
    let log: PrunedLog | undefined;
    if (first && isPrunedMarker(first)) {
      const seqs: number[] = [];
      for (let after = first.seq; ; ) {
        const page = await this.manager.store.readEvents(this.key, { after, limit: 1000, types: ["message"] });
        for (const event of page) if (event.seq <= this.lastSeq) seqs.push(event.seq);
        if (page.length < 1000) break;
        after = (page.at(-1) as SessionEvent).seq;
      }
      log = { cut: first.seq, seqs, firstOrdinal: this.messageCount - seqs.length };
    }
    this.prunedView = { lastSeq: this.lastSeq, log };
    return log;
  }

  /** The `tool_call` and `tool_result` events written right after the message event at `seq`. */
  async toolEventsAfter(seq: number): Promise<SessionEvent[]> {
    const page = await this.manager.store.readEvents(this.key, { after: seq, limit: 64, order: "asc" });
    const tools: SessionEvent[] = [];
    for (const event of page) {
      if (event.type !== "tool_call" && event.type !== "tool_result") break;
      tools.push(event);
    }
    return tools;
  }

  head(ns: string): Head | undefined {
    return headOf(this.state, ns);
  }

  remembered(id: string, ns: string): LoadedCheckpoint | undefined {
    const found = this.loaded.get(`${ns}\u0000${id}`);
    if (found) {
      // Most recently used last, so the oldest is evicted first.
      this.loaded.delete(`${ns}\u0000${id}`);
      this.loaded.set(`${ns}\u0000${id}`, found);
    }
    return found;
  }

  remember(checkpoint: LoadedCheckpoint): void {
    const key = `${checkpoint.data.ns}\u0000${checkpoint.data.id}`;
    this.loaded.delete(key);
    this.loaded.set(key, checkpoint);
    while (this.loaded.size > LOADED_PER_THREAD) this.loaded.delete(this.loaded.keys().next().value as string);
  }

  learn(entry: MessageEntry): void {
    this.known.set(entry.message, entry);
    this.byOrdinal.delete(entry.ordinal);
    this.byOrdinal.set(entry.ordinal, entry);
    while (this.byOrdinal.size > ORDINALS_PER_THREAD) {
      this.byOrdinal.delete(this.byOrdinal.keys().next().value as number);
    }
    if (entry.id !== undefined) {
      this.byId.delete(entry.id);
      this.byId.set(entry.id, entry);
      while (this.byId.size > ORDINALS_PER_THREAD) this.byId.delete(this.byId.keys().next().value as string);
    }
    for (const [id, name] of callsOf(entry.message)) {
      this.toolNames.delete(id);
      this.toolNames.set(id, name);
      while (this.toolNames.size > ORDINALS_PER_THREAD) {
        this.toolNames.delete(this.toolNames.keys().next().value as string);
      }
    }
  }

  /** The tool of a call this process knows, by call id. */
  toolName(invocationId: string): string | undefined {
    return this.toolNames.get(invocationId);
  }

  /** A stored message with this id, if this process knows one. */
  storedWithId(id: string | undefined): MessageEntry | undefined {
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** The decoded messages of a run when this process holds all of them. */
  cachedRun([, count, ordinal]: Run): MessageEntry[] | undefined {
    const entries: MessageEntry[] = [];
    for (let i = 0; i < count; i += 1) {
      const entry = this.byOrdinal.get(ordinal + i);
      if (!entry) return undefined;
      entries.push(entry);
    }
    return entries;
  }

  /** Writes stored for a checkpoint this process has not seen put yet. */
  earlyWrites(ns: string, id: string): EarlyWrites | undefined {
    return this.early.get(`${ns}\u0000${id}`);
  }

  addEarly(ns: string, id: string, seq: number, written: readonly MessageEntry[]): void {
    const key = `${ns}\u0000${id}`;
    const entry = this.early.get(key) ?? { seqs: [], written: [] };
    entry.seqs.push(seq);
    entry.written.push(...written);
    this.early.delete(key);
    this.early.set(key, entry);
    while (this.early.size > EARLY_PER_THREAD) this.early.delete(this.early.keys().next().value as string);
  }

  dropEarly(ns: string, id: string): void {
    this.early.delete(`${ns}\u0000${id}`);
  }

  /** Events by seq (any type), in one read per stretch of consecutive seqs. */
  async eventsAt(seqs: readonly number[]): Promise<Map<number, SessionEvent>> {
    const sorted = [...new Set(seqs)].sort((a, b) => a - b);
    const stretches: [number, number][] = [];
    for (const seq of sorted) {
      const last = stretches.at(-1);
      if (last && last[0] + last[1] === seq) last[1] += 1;
      else stretches.push([seq, 1]);
    }
    const found = new Map<number, SessionEvent>();
    const pages = await Promise.all(
      stretches.map(([first, count]) =>
        this.manager.store.readEvents(this.key, { after: first - 1, limit: count, order: "asc" }),
      ),
    );
    for (const page of pages) for (const event of page) found.set(event.seq, event);
    return found;
  }

  /** The message events of runs, in order. */
  async runEvents(runs: readonly Run[]): Promise<SessionEvent[]> {
    const pages = await Promise.all(
      runs.map(([first, count]) =>
        this.manager.store.readEvents(this.key, { after: first - 1, limit: count, types: ["message"], order: "asc" }),
      ),
    );
    return pages.flat();
  }

  /** The saver's events, newest first, in pages; the scan stops when `visit` returns true. */
  async scanBack(visit: (event: SessionEvent) => boolean | undefined): Promise<void> {
    let before: number | undefined;
    for (;;) {
      const page = await this.manager.store.readEvents(this.key, {
        ...(before === undefined ? {} : { before }),
        limit: 256,
        types: ["custom"],
        order: "desc",
      });
      for (const event of page) if (visit(event)) return;
      if (page.length < 256) return;
      before = (page.at(-1) as SessionEvent).seq;
    }
  }

  /** Every event of the session, oldest first, in pages. */
  async *all(): AsyncGenerator<SessionEvent> {
    let after = 0;
    for (;;) {
      const page = await this.manager.store.readEvents(this.key, { after, limit: 512, order: "asc" });
      yield* page;
      if (page.length < 512) return;
      after = (page.at(-1) as SessionEvent).seq;
    }
  }
}

/** A bounded map of threads this process knows, least recently used evicted first. */
export class ThreadCache {
  private readonly threads = new Map<string, ThreadView>();

  constructor(private readonly capacity: number) {}

  get(key: string): ThreadView | undefined {
    const view = this.threads.get(key);
    if (view) {
      this.threads.delete(key);
      this.threads.set(key, view);
    }
    return view;
  }

  set(key: string, view: ThreadView): void {
    this.threads.delete(key);
    this.threads.set(key, view);
    while (this.threads.size > this.capacity) this.threads.delete(this.threads.keys().next().value as string);
  }

  delete(key: string): void {
    this.threads.delete(key);
  }
}
