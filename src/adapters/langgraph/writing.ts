/**
 * Planning one `put` or `putWrites` as the events of one commit.
 *
 * A `put` stores, per channel, only what is new: a channel whose version did not change points at
 * the event that stored it; a list of messages keeps the runs of the parent's list that it still
 * starts with and appends only the messages after them, reusing the events `putWrites` already
 * wrote for the messages a node returned. So a conversation of n messages stores each message
 * once, and each checkpoint costs a constant number of bytes beyond its new content.
 */
import type { BaseMessage } from "@langchain/core/messages";
import type { ChannelVersions, Checkpoint, SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { isDeltaSnapshot, WRITES_IDX_MAP } from "@langchain/langgraph-checkpoint";
import type { JsonObject } from "../../index.ts";
import { encodeValue, isStorableMessage, messagesOf, messageToEvent } from "./codec.ts";
import {
  CHECKPOINT_EVENT,
  type CheckpointData,
  headKey,
  pushRun,
  type Run,
  type StoredWrite,
  truncateRuns,
  type ValueRef,
  WRITES_EVENT,
  type WritesData,
} from "./layout.ts";
import type { Reader } from "./reading.ts";
import {
  extendList,
  type LoadedCheckpoint,
  type MessageEntry,
  type MessageList,
  messageList,
  pushEntry,
  type ThreadView,
} from "./thread.ts";
import { callsOf, toolEventsOf } from "./tool-events.ts";

function allStorable(list: readonly unknown[], from: number): list is BaseMessage[] {
  for (let i = from; i < list.length; i += 1) if (!isStorableMessage(list[i])) return false;
  return true;
}

/** The events of one commit, with what this process learns from it once it is written. */
export interface Plan {
  events: JsonObject[];
  /** The messages written, with where they will be stored. */
  entries: MessageEntry[];
  /** Message events among `events`. */
  messages: number;
  /** The first human message written, for a thread without a title. */
  firstHuman?: BaseMessage;
}

/** Counts seqs and ordinals from the thread's last known header, as the commit will assign them. */
class Cursor {
  seq: number;
  ordinal: number;
  readonly plan: Plan = { events: [], entries: [], messages: 0 };
  /** Tool calls written earlier in this commit, which the thread learns only once it lands. */
  private readonly calls = new Map<string, string>();

  constructor(
    private readonly serde: SerializerProtocol,
    private readonly thread: ThreadView,
    after?: Plan,
  ) {
    this.seq = thread.lastSeq + (after?.events.length ?? 0);
    this.ordinal = thread.messageCount + (after?.messages ?? 0);
    for (const entry of after?.entries ?? []) for (const [id, name] of callsOf(entry.message)) this.calls.set(id, name);
  }

  /**
   * A message event, followed by its `tool_call` or `tool_result` events in the same commit. Runs
   * count message events by ordinal and are read with `types: ["message"]`, so the events between
   * them change nothing there.
   */
  async message(message: BaseMessage): Promise<MessageEntry> {
    const event = await messageToEvent(this.serde, message);
    this.plan.events.push(event);
    this.plan.messages += 1;
    this.seq += 1;
    if (!this.plan.firstHuman && message.getType() === "human") this.plan.firstHuman = message;
    const entry = { message, seq: this.seq, ordinal: this.ordinal, id: message.id };
    this.ordinal += 1;
    this.plan.entries.push(entry);
    for (const tool of toolEventsOf(message, event, (id) => this.calls.get(id) ?? this.thread.toolName(id))) {
      this.plan.events.push(tool);
      this.seq += 1;
    }
    for (const [id, name] of callsOf(message)) this.calls.set(id, name);
    return entry;
  }

  last(event: JsonObject): number {
    this.plan.events.push(event);
    this.seq += 1;
    return this.seq;
  }
}

async function sameMessage(serde: SerializerProtocol, next: BaseMessage, stored: MessageEntry): Promise<boolean> {
  if (next.id !== stored.id) return false;
  if (next === stored.message) return true;
  if (next.id === undefined) return false;
  // Another object with the same id: the same message only if it serializes the same.
  const [a, b] = await Promise.all([encodeValue(serde, next), encodeValue(serde, stored.message)]);
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The stored event of a message, when it has one: the very object (written or read by this process),
 * else a copy of it (same id, same serialized form), as a subgraph hands back its parent's messages.
 */
async function storedEntry(
  serde: SerializerProtocol,
  thread: ThreadView,
  message: BaseMessage,
  written: ReadonlyMap<BaseMessage, MessageEntry> | undefined,
): Promise<MessageEntry | undefined> {
  const same = written?.get(message) ?? thread.known.get(message);
  if (same && same.id === message.id) return same;
  const byId = thread.storedWithId(message.id);
  return byId && (await sameMessage(serde, message, byId)) ? byId : undefined;
}

/**
 * How many messages at the start of `list` are the very objects of the parent's list, with the ids
 * they were stored with. LangGraph's reducer gives an id in place only to a message that has none,
 * so only those positions are looked at again: pointer comparisons otherwise, microseconds for a
 * long conversation (messages read from a checkpoint are not to be mutated: see the docs).
 */
function identicalPrefix(list: readonly unknown[], previous: MessageList | undefined): number {
  if (!previous) return 0;
  const { messages, entries } = previous;
  const common = Math.min(list.length, previous.length);
  let kept = 0;
  while (kept < common && list[kept] === messages[kept]) kept += 1;
  for (const position of previous.unnamed) {
    if (position >= kept) break;
    if ((list[position] as BaseMessage).id !== (entries[position] as MessageEntry).id) return position;
  }
  return kept;
}

/**
 * A list of root-graph messages: runs of events, only the new ones written. The first `kept`
 * messages are the parent's (see `identicalPrefix`), so only the rest is looked at.
 */
async function planMessages(
  serde: SerializerProtocol,
  cursor: Cursor,
  list: readonly BaseMessage[],
  previous: { runs: readonly Run[]; list: MessageList } | undefined,
  kept: number,
  written: ReadonlyMap<BaseMessage, MessageEntry> | undefined,
  thread: ThreadView,
): Promise<{ runs: Run[]; list: MessageList }> {
  const before = previous?.list;
  const common = Math.min(list.length, before?.length ?? 0);
  while (
    kept < common &&
    (await sameMessage(serde, list[kept] as BaseMessage, before?.entries[kept] as MessageEntry))
  ) {
    kept += 1;
  }
  const runs = truncateRuns(previous?.runs ?? [], kept);
  const next = extendList(before, kept);
  for (let i = kept; i < list.length; i += 1) {
    const message = list[i] as BaseMessage;
    const entry = (await storedEntry(serde, thread, message, written)) ?? (await cursor.message(message));
    pushRun(runs, entry.seq, entry.ordinal);
    pushEntry(next, entry);
  }
  return { runs, list: next };
}

export interface PutInput {
  ns: string;
  checkpoint: Checkpoint;
  metadata: unknown;
  newVersions: ChannelVersions;
  parentId: string | undefined;
}

/** The commit of one `put`, and the checkpoint as this process will remember it. */
export async function planPut(
  serde: SerializerProtocol,
  thread: ThreadView,
  reader: Reader,
  parent: LoadedCheckpoint | undefined,
  input: PutInput,
  after?: { plan: Plan; written: readonly MessageEntry[] },
): Promise<{ plan: Plan; loaded: LoadedCheckpoint }> {
  const { ns, checkpoint, newVersions } = input;
  // Planned to follow `after` (the parent's writes) in the same commit: its seqs continue those, and
  // the messages those writes store are reused as if already written on the parent.
  const cursor = new Cursor(serde, thread, after?.plan);
  let parentWritten = parent?.written;
  if (after && after.written.length > 0) {
    const chained = new Map(parentWritten);
    for (const entry of after.written) chained.set(entry.message, entry);
    parentWritten = chained;
  }
  const values: Record<string, ValueRef> = {};
  const lists = new Map<string, MessageList>();
  for (const [channel, value] of Object.entries(checkpoint.channel_values)) {
    const parentRef = parent?.data.values[channel];
    const unchanged =
      parent !== undefined &&
      parentRef !== undefined &&
      !(channel in newVersions) &&
      parent.data.versions[channel] === checkpoint.channel_versions[channel];
    if (!(channel in newVersions)) {
      // Unchanged since the parent: point at where it is stored. A channel whose version no parent
      // holds was never handed over as new, so (as LangGraph's own delta savers) it is not stored.
      if (unchanged && parent && parentRef) {
        values[channel] = "r" in parentRef || "m" in parentRef ? parentRef : { r: parent.seq };
        const entries = parent.messages.get(channel);
        if (entries) lists.set(channel, entries);
      }
      continue;
    }
    if (ns === "" && Array.isArray(value) && value.length > 0) {
      let previous: { runs: Run[]; list: MessageList } | undefined;
      if (parent && parentRef && "m" in parentRef && !parentRef.one) {
        let list = parent.messages.get(channel);
        if (!list) {
          list = messageList(await reader.messages(parentRef.m));
          parent.messages.set(channel, list);
        }
        previous = { runs: parentRef.m, list };
      }
      // The parent's messages are storable; only what follows them needs the check.
      const kept = identicalPrefix(value, previous?.list);
      if (allStorable(value, kept)) {
        const planned = await planMessages(serde, cursor, value, previous, kept, parentWritten, thread);
        values[channel] = { m: planned.runs };
        lists.set(channel, planned.list);
        continue;
      }
    }
    if (ns === "" && isDeltaSnapshot(value) && messagesOf(value.value) && Array.isArray(value.value)) {
      const planned = await planMessages(serde, cursor, value.value, undefined, 0, parentWritten, thread);
      values[channel] = { m: planned.runs, snap: true };
      continue;
    }
    values[channel] = await encodeValue(serde, value);
  }
  const data: CheckpointData = {
    ns,
    id: checkpoint.id,
    v: checkpoint.v,
    ts: checkpoint.ts,
    versions: { ...checkpoint.channel_versions },
    seen: checkpoint.versions_seen as CheckpointData["seen"],
    meta: await encodeValue(serde, input.metadata),
    values,
  };
  if (input.parentId !== undefined) data.parent = input.parentId;
  const early = thread.earlyWrites(ns, checkpoint.id);
  if (early) data.early = [...early.seqs];
  const seq = cursor.seq + 1;
  const event: JsonObject = { type: "custom", name: CHECKPOINT_EVENT, data: data as unknown as JsonObject };
  const head = thread.head(ns);
  if (!head || checkpoint.id >= head.id) {
    event.stateDelta = { [headKey(ns)]: { id: checkpoint.id, seq, writes: data.early ?? [] } };
  }
  cursor.last(event);
  const written = new Map((early?.written ?? []).map((entry) => [entry.message, entry]));
  return { plan: cursor.plan, loaded: { seq, data, messages: lists, written } };
}

export interface WritesInput {
  ns: string;
  checkpointId: string;
  writes: readonly [string, unknown][];
  taskId: string;
  taskPath: string;
}

/**
 * The commit of one `putWrites`. Messages a root-graph node returned become message events now, so
 * the console shows them as soon as the node finishes and the next `put` points at them.
 */
export async function planWrites(
  serde: SerializerProtocol,
  thread: ThreadView,
  target: LoadedCheckpoint | undefined,
  input: WritesInput,
): Promise<{ plan: Plan; written: MessageEntry[] }> {
  const cursor = new Cursor(serde, thread);
  const stored: StoredWrite[] = [];
  const written: MessageEntry[] = [];
  for (const [i, [channel, value]] of input.writes.entries()) {
    const idx = WRITES_IDX_MAP[channel] ?? i;
    const messages = input.ns === "" ? messagesOf(value) : undefined;
    if (!messages) {
      stored.push([channel, idx, await encodeValue(serde, value)]);
      continue;
    }
    const runs: Run[] = [];
    for (const message of messages) {
      // The messages reducer gives an id to a message without one as it applies this write, on
      // this very object; giving it here instead lets the stored event and the checkpoint agree.
      if (message.id === undefined || message.id === null) assignId(message);
      const entry = (await storedEntry(serde, thread, message, target?.written)) ?? (await cursor.message(message));
      pushRun(runs, entry.seq, entry.ordinal);
      written.push(entry);
    }
    stored.push([channel, idx, Array.isArray(value) ? { m: runs } : { m: runs, one: true }]);
  }
  const data: WritesData = {
    ns: input.ns,
    cp: input.checkpointId,
    task: input.taskId,
    path: input.taskPath,
    w: stored,
  };
  const event: JsonObject = { type: "custom", name: WRITES_EVENT, data: data as unknown as JsonObject };
  const head = thread.head(input.ns);
  if (head && head.id === input.checkpointId) {
    event.stateDelta = { [headKey(input.ns)]: { ...head, writes: [...head.writes, cursor.seq + 1] } };
  }
  cursor.last(event);
  return { plan: cursor.plan, written };
}

function assignId(message: BaseMessage): void {
  const id = crypto.randomUUID();
  message.id = id;
  (message.lc_kwargs as Record<string, unknown>).id = id;
}
