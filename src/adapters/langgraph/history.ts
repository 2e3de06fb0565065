/**
 * The reads that look past the newest checkpoint: one checkpoint by id (time travel), the thread's
 * history (`list`), and the ancestor walk behind `DeltaChannel`. Each is one pass over the thread's
 * bookkeeping events, newest first where it can stop early, never a read per checkpoint.
 */
import type { CheckpointTuple, DeltaChannelHistory, SerializerProtocol } from "@langchain/langgraph-checkpoint";
import type { SessionEvent } from "../../index.ts";
import { decodeValue } from "./codec.ts";
import { checkpointOf, Reader, writesOf } from "./reading.ts";
import type { LoadedCheckpoint, ThreadView, WritesEvent } from "./thread.ts";

const PAGE = 256;

/** Walks a thread's `custom` events newest first, remembering every checkpoint and write it passed. */
class BackScan {
  readonly checkpoints = new Map<string, LoadedCheckpoint>();
  readonly writes = new Map<string, WritesEvent[]>();
  private before: number | undefined;
  private done = false;

  constructor(
    private readonly view: ThreadView,
    private readonly ns: string,
  ) {}

  /** The checkpoint `id`, scanning further back only as far as needed. */
  async find(id: string): Promise<LoadedCheckpoint | undefined> {
    while (!this.checkpoints.has(id) && !this.done) await this.page();
    return this.checkpoints.get(id);
  }

  /** The newest checkpoint of the namespace left in the log. */
  async newest(): Promise<LoadedCheckpoint | undefined> {
    while (this.checkpoints.size === 0 && !this.done) await this.page();
    return this.checkpoints.values().next().value;
  }

  /** The checkpoint's writes: those after it, which the scan has passed, and any stored before its put. */
  async writesOf(checkpoint: LoadedCheckpoint): Promise<WritesEvent[]> {
    const after = this.writes.get(checkpoint.data.id) ?? [];
    const early = (checkpoint.data.early ?? []).filter((seq) => !after.some((writes) => writes.seq === seq));
    if (early.length === 0) return after;
    const events = await this.view.eventsAt(early);
    const before = early.map((seq) => events.get(seq)).map((event) => event && writesOf(event));
    return [...before.filter((writes) => writes !== undefined), ...after];
  }

  private async page(): Promise<void> {
    const events = await this.view.manager.store.readEvents(this.view.key, {
      ...(this.before === undefined ? {} : { before: this.before }),
      limit: PAGE,
      types: ["custom"],
      order: "desc",
    });
    for (const event of events) this.take(event);
    if (events.length < PAGE) this.done = true;
    else this.before = (events.at(-1) as SessionEvent).seq;
  }

  private take(event: SessionEvent): void {
    const checkpoint = checkpointOf(event);
    if (checkpoint) {
      if (checkpoint.data.ns === this.ns && !this.checkpoints.has(checkpoint.data.id)) {
        this.checkpoints.set(checkpoint.data.id, checkpoint);
      }
      return;
    }
    const writes = writesOf(event);
    if (writes && writes.data.ns === this.ns) {
      const list = this.writes.get(writes.data.cp) ?? [];
      list.push(writes);
      this.writes.set(writes.data.cp, list);
    }
  }
}

/** One checkpoint by id with its writes (they follow it in the log, so the scan has passed them). */
export async function findCheckpoint(
  view: ThreadView,
  ns: string,
  id: string,
): Promise<{ loaded: LoadedCheckpoint; writes: WritesEvent[] } | undefined> {
  const scan = new BackScan(view, ns);
  const loaded = await scan.find(id);
  return loaded && { loaded, writes: await scan.writesOf(loaded) };
}

/** The newest checkpoint of a namespace left in the log (the newest put may have been redacted), with its writes. */
export async function newestCheckpoint(
  view: ThreadView,
  ns: string,
): Promise<{ loaded: LoadedCheckpoint; writes: WritesEvent[] } | undefined> {
  const scan = new BackScan(view, ns);
  const loaded = await scan.newest();
  return loaded && { loaded, writes: await scan.writesOf(loaded) };
}

export interface ListFilter {
  ns: string | undefined;
  before: string | undefined;
  filter: Record<string, unknown> | undefined;
  limit: number | undefined;
}

/** A thread's checkpoints, newest id first, read in one pass over its log. */
export async function* listThread(
  serde: SerializerProtocol,
  view: ThreadView,
  options: ListFilter,
): AsyncGenerator<CheckpointTuple> {
  const known = new Map<number, SessionEvent>();
  const checkpoints: LoadedCheckpoint[] = [];
  const writes = new Map<string, WritesEvent[]>();
  for await (const event of view.all()) {
    known.set(event.seq, event);
    const checkpoint = checkpointOf(event);
    if (checkpoint) {
      checkpoints.push(checkpoint);
      continue;
    }
    const stored = writesOf(event);
    if (stored) {
      const key = `${stored.data.ns}\u0000${stored.data.cp}`;
      writes.set(key, [...(writes.get(key) ?? []), stored]);
    }
  }
  const chosen = checkpoints
    .filter(({ data }) => options.ns === undefined || data.ns === options.ns)
    .filter(({ data }) => options.before === undefined || data.id < options.before)
    .sort((a, b) => (a.data.id < b.data.id ? 1 : a.data.id > b.data.id ? -1 : 0));
  const reader = new Reader(serde, view, known);
  let left = options.limit;
  for (const loaded of chosen) {
    if (left !== undefined && left <= 0) return;
    const { data } = loaded;
    if (options.filter && Object.keys(options.filter).length > 0) {
      const metadata = (await decodeValue(serde, data.meta)) as Record<string, unknown>;
      if (!Object.entries(options.filter).every(([key, value]) => metadata?.[key] === value)) continue;
    }
    const own = writes.get(`${data.ns}\u0000${data.id}`) ?? [];
    const parentWrites = async () =>
      data.parent === undefined ? [] : (writes.get(`${data.ns}\u0000${data.parent}`) ?? []);
    if (left !== undefined) left -= 1;
    yield await reader.tuple({ thread_id: view.threadId, checkpoint_ns: data.ns }, loaded, own, parentWrites);
  }
}

/**
 * `getDeltaChannelHistory` as LangGraph defines it: from the target's parent up the parent chain,
 * each channel collects its writes until the nearest ancestor that stored a value for it (the
 * seed, whose own writes still count). Writes come back oldest first.
 */
export async function deltaHistory(
  serde: SerializerProtocol,
  view: ThreadView,
  ns: string,
  id: string | undefined,
  channels: readonly string[],
): Promise<Record<string, DeltaChannelHistory>> {
  const collected = new Map(channels.map((channel) => [channel, [] as DeltaChannelHistory["writes"]]));
  const seeds = new Map<string, unknown>();
  const remaining = new Set(channels);
  const scan = new BackScan(view, ns);
  const reader = new Reader(serde, view);
  const target = id === undefined ? undefined : await scan.find(id);
  let current = target?.data.parent;
  while (current !== undefined && remaining.size > 0) {
    const checkpoint = await scan.find(current);
    if (!checkpoint) break;
    const terminated: string[] = [];
    for (const channel of remaining) {
      const ref = checkpoint.data.values[channel];
      if (ref === undefined) continue;
      const value = await reader.value(ref, channel);
      if (value === undefined) continue;
      seeds.set(channel, value);
      terminated.push(channel);
    }
    const writes = await reader.pendingWrites(checkpoint, await scan.writesOf(checkpoint));
    for (const write of [...writes].reverse()) {
      const list = collected.get(write[1]);
      if (list && remaining.has(write[1])) list.push(write);
    }
    for (const channel of terminated) remaining.delete(channel);
    current = checkpoint.data.parent;
  }
  const result: Record<string, DeltaChannelHistory> = {};
  for (const channel of channels) {
    const entry: DeltaChannelHistory = { writes: [...(collected.get(channel) ?? [])].reverse() };
    if (seeds.has(channel)) entry.seed = seeds.get(channel);
    result[channel] = entry;
  }
  return result;
}
