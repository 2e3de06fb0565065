/**
 * From stored events back to LangGraph's `CheckpointTuple`: values resolved through their refs,
 * message runs decoded once per process, pending writes deduplicated and put in `writesSortKey`
 * order as the saver contract asks.
 */

import type { BaseMessage } from "@langchain/core/messages";
import type { CheckpointPendingWrite, CheckpointTuple, SerializerProtocol } from "@langchain/langgraph-checkpoint";
import {
  compareWritesSortKeys,
  DeltaSnapshot,
  maxChannelVersion,
  TASKS,
  writesSortKey,
} from "@langchain/langgraph-checkpoint";
import { FrontdeskError, type JsonObject, type SessionEvent } from "../../index.ts";
import { copyStored } from "../shared/copy.ts";
import { decodeValue, type EncodedValue, eventToMessage, redactedMessage } from "./codec.ts";
import {
  CHECKPOINT_EVENT,
  type CheckpointData,
  pushRun,
  type Run,
  runsLength,
  type ValueRef,
  type WritesData,
} from "./layout.ts";
import { type LoadedCheckpoint, type MessageEntry, messageList, type ThreadView, type WritesEvent } from "./thread.ts";

/** A checkpoint event; a redacted one holds no checkpoint any more, and reads as absent. */
export const checkpointOf = (event: SessionEvent): LoadedCheckpoint | undefined =>
  event.type === "custom" && event.name === CHECKPOINT_EVENT && !event.redacted
    ? { seq: event.seq, data: event.data as unknown as CheckpointData, messages: new Map(), written: new Map() }
    : undefined;

/** A ref that points at nothing: the session was changed by hand, or is not the saver's. */
const missing = (thread: ThreadView, what: string): FrontdeskError =>
  new FrontdeskError("internal", `LangGraph thread ${thread.threadId}: ${what} is missing from its session`);

/** A message list that lost its start to a prune: tool messages answering calls that went with it go too. */
function withoutOrphans(entries: MessageEntry[]): MessageEntry[] {
  let start = 0;
  while (start < entries.length && (entries[start] as MessageEntry).message.getType() === "tool") start += 1;
  return start === 0 ? entries : entries.slice(start);
}

const runsOf = (entries: readonly MessageEntry[]): Run[] => {
  const runs: Run[] = [];
  for (const entry of entries) pushRun(runs, entry.seq, entry.ordinal);
  return runs;
};

/** Resolves refs against the log; `known` holds events already read by a scan. */
export class Reader {
  private readonly decoded = new Map<number, MessageEntry>();

  constructor(
    private readonly serde: SerializerProtocol,
    private readonly thread: ThreadView,
    private readonly known: Map<number, SessionEvent> = new Map(),
  ) {}

  /**
   * The messages of runs, decoded once per reader. A redacted message reads as a placeholder of
   * the same kind (codec.ts); messages a prune removed are left out, with the tool messages that
   * answered calls among them.
   */
  async messages(runs: readonly Run[]): Promise<MessageEntry[]> {
    const cached = runs.map((run) => this.thread.cachedRun(run));
    const read = await this.runEventsKnown(runs.filter((_, i) => cached[i] === undefined));
    const entries: MessageEntry[] = [];
    let lost = false;
    for (const [r, run] of runs.entries()) {
      const hit = cached[r];
      if (hit) {
        entries.push(...hit);
        continue;
      }
      const [first, count] = run;
      let events = read.get(String(run)) ?? [];
      let ordinal = run[2];
      if (events.length !== count || events[0]?.seq !== first) {
        const left = await this.survivors(run);
        if (!left) throw missing(this.thread, `the messages at seq ${first}`);
        ({ events, ordinal } = left);
        lost = true;
      }
      for (const [i, event] of events.entries()) {
        let entry = this.decoded.get(event.seq);
        if (!entry) {
          const message = await this.decode(event);
          entry = { message, seq: event.seq, ordinal: ordinal + i, id: message.id };
          this.decoded.set(event.seq, entry);
          this.thread.learn(entry);
        }
        entries.push(entry);
      }
    }
    return lost ? withoutOrphans(entries) : entries;
  }

  private async decode(event: SessionEvent): Promise<BaseMessage> {
    if (!event.redacted) return eventToMessage(this.serde, event as unknown as JsonObject);
    const tools = event.type === "message" && event.role !== "user" ? await this.thread.toolEventsAfter(event.seq) : [];
    const calls = tools.flatMap((tool) =>
      tool.type === "tool_call" ? [{ id: tool.invocationId, name: tool.tool }] : [],
    );
    const result = tools.find((tool) => tool.type === "tool_result");
    const toolName = result?.type === "tool_result" ? result.tool : undefined;
    return redactedMessage(this.serde, event as unknown as JsonObject, { calls, ...(toolName ? { toolName } : {}) });
  }

  /** What a prune left of a run: its messages after the marker, by ordinal; undefined when no prune explains the gap. */
  private async survivors([first, count, ordinal]: Run): Promise<
    { events: SessionEvent[]; ordinal: number } | undefined
  > {
    const log = await this.thread.pruned();
    if (!log || first > log.cut) return undefined;
    const from = Math.max(ordinal, log.firstOrdinal);
    const seqs = log.seqs.slice(from - log.firstOrdinal, ordinal + count - log.firstOrdinal);
    const found = seqs.length > 0 ? await this.thread.eventsAt(seqs) : new Map<number, SessionEvent>();
    const events = seqs.map((seq) => found.get(seq)).filter((event) => event?.type === "message") as SessionEvent[];
    return events.length === seqs.length ? { events, ordinal: from } : undefined;
  }

  /** Run events, from the scan's events when it read them, else from the log. */
  private async runEventsKnown(runs: readonly Run[]): Promise<Map<string, SessionEvent[]>> {
    const result = new Map<string, SessionEvent[]>();
    const unknown: Run[] = [];
    for (const run of runs) {
      const events = this.fromKnown(run);
      if (events) result.set(String(run), events);
      else unknown.push(run);
    }
    if (unknown.length > 0) {
      const read = await Promise.all(unknown.map((run) => this.thread.runEvents([run])));
      unknown.forEach((run, i) => {
        result.set(String(run), read[i] as SessionEvent[]);
      });
    }
    return result;
  }

  private fromKnown([first, count]: Run): SessionEvent[] | undefined {
    if (this.known.size === 0 || !this.known.has(first)) return undefined;
    const events: SessionEvent[] = [];
    for (let seq = first; events.length < count; seq += 1) {
      const event = this.known.get(seq);
      if (!event) return undefined;
      if (event.type === "message") events.push(event);
    }
    return events;
  }

  /**
   * One value: inline, carried over from an earlier checkpoint, or a list of messages; undefined
   * when it was carried over from a checkpoint that is gone (no stored value is undefined).
   */
  async value(ref: ValueRef, channel: string): Promise<unknown> {
    if ("m" in ref) {
      const entries = await this.messages(ref.m);
      if (ref.one) return entries[0]?.message;
      const list = entries.map((entry) => entry.message);
      return ref.snap ? new DeltaSnapshot(list) : list;
    }
    if ("r" in ref) {
      const event = this.known.get(ref.r) ?? (await this.thread.eventsAt([ref.r])).get(ref.r);
      // Redacted, or removed by a prune: the value it held is gone with it, and the channel reads as empty.
      if (!event || event.redacted) return undefined;
      const origin = checkpointOf(event);
      const stored = origin?.data.values[channel];
      if (!origin || !stored || "r" in stored) {
        throw missing(this.thread, `channel ${channel} at seq ${ref.r}`);
      }
      if (event) this.known.set(ref.r, event);
      return this.value(stored, channel);
    }
    return decodeValue(this.serde, ref as EncodedValue);
  }

  /**
   * The checkpoint's channel values; message lists are kept on `loaded` for the next `put`. A list
   * that lost messages to a prune is kept with the runs of what is left, which the next `put`
   * extends; a value that is gone leaves its channel empty.
   */
  async channelValues(loaded: LoadedCheckpoint): Promise<Record<string, unknown>> {
    const values: Record<string, unknown> = {};
    await Promise.all(
      Object.entries(loaded.data.values).map(async ([channel, ref]) => {
        if ("m" in ref && !ref.one && !ref.snap) {
          let list = loaded.messages.get(channel);
          if (!list) {
            const entries = await this.messages(ref.m);
            if (entries.length !== runsLength(ref.m)) {
              loaded.data = { ...loaded.data, values: { ...loaded.data.values, [channel]: { m: runsOf(entries) } } };
            }
            list = messageList(entries);
            loaded.messages.set(channel, list);
          }
          values[channel] = list.messages.slice(0, list.length);
        } else {
          const value = await this.value(ref, channel);
          if (value !== undefined) values[channel] = value;
        }
      }),
    );
    return values;
  }

  /**
   * Pending writes in `writesSortKey` order. A write repeated under one (task, idx) keeps its first
   * value, except the special writes (negative idx: errors, interrupts), where the newest wins.
   */
  async pendingWrites(loaded: LoadedCheckpoint, events: readonly WritesEvent[]): Promise<CheckpointPendingWrite[]> {
    const byKey = new Map<string, { task: string; path: string; channel: string; idx: number; ref: ValueRef }>();
    for (const { data } of [...events].sort((a, b) => a.seq - b.seq)) {
      for (const [channel, idx, ref] of data.w) {
        const key = `${data.task}\u0000${idx}`;
        if (idx >= 0 && byKey.has(key)) continue;
        byKey.set(key, { task: data.task, path: data.path, channel, idx, ref });
      }
    }
    const ordered = [...byKey.values()].sort((a, b) =>
      compareWritesSortKeys(writesSortKey(a.path, a.task, a.idx), writesSortKey(b.path, b.task, b.idx)),
    );
    return Promise.all(
      ordered.map(async (write): Promise<CheckpointPendingWrite> => {
        const value = await this.value(write.ref, write.channel);
        if ("m" in write.ref) {
          const entries = await this.messages(write.ref.m);
          for (const entry of entries) loaded.written.set(entry.message, entry);
        }
        return [write.task, write.channel, value];
      }),
    );
  }

  /** The whole tuple LangGraph asks for. */
  async tuple(
    config: { thread_id: string; checkpoint_ns: string },
    loaded: LoadedCheckpoint,
    writes: readonly WritesEvent[],
    parentWrites: () => Promise<readonly WritesEvent[]>,
  ): Promise<CheckpointTuple> {
    const { data } = loaded;
    const [values, pendingWrites, metadata] = await Promise.all([
      this.channelValues(loaded),
      this.pendingWrites(loaded, writes),
      decodeValue(this.serde, data.meta),
    ]);
    const checkpoint = {
      v: data.v,
      id: data.id,
      ts: data.ts,
      channel_values: values,
      channel_versions: { ...data.versions },
      versions_seen: copyStored(data.seen),
    };
    if (data.v < 4 && data.parent !== undefined) {
      // Checkpoints older than format 4 kept pending sends in the parent's writes; LangGraph reads them as a channel.
      const sends = (await this.pendingWrites(loaded, await parentWrites())).filter(([, channel]) => channel === TASKS);
      checkpoint.channel_values[TASKS] = sends.map(([, , value]) => value);
      const versions = Object.values(checkpoint.channel_versions);
      checkpoint.channel_versions[TASKS] = versions.length > 0 ? maxChannelVersion(...versions) : 1;
    }
    const tuple: CheckpointTuple = {
      config: {
        configurable: { thread_id: config.thread_id, checkpoint_ns: config.checkpoint_ns, checkpoint_id: data.id },
      },
      checkpoint,
      metadata: metadata as CheckpointTuple["metadata"],
      pendingWrites,
    };
    if (data.parent !== undefined) {
      tuple.parentConfig = {
        configurable: { thread_id: config.thread_id, checkpoint_ns: config.checkpoint_ns, checkpoint_id: data.parent },
      };
    }
    return tuple;
  }
}

/** A writes event; a redacted one holds no writes any more. */
export const writesOf = (event: SessionEvent): WritesEvent | undefined =>
  event.type === "custom" && event.name === "langgraph.writes" && !event.redacted
    ? { seq: event.seq, data: event.data as unknown as WritesData }
    : undefined;
