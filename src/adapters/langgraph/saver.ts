/**
 * `FrontdeskSaver`: LangGraph checkpoints in Frontdesk sessions, one session per thread.
 *
 * The conversation is stored as the messages it is (message events the console, SSE, exports and
 * agent history read), checkpoints as compact `custom` events that point at them, and the newest
 * checkpoint of each namespace in one small state key. Storage grows with what each step adds, not
 * with the square of the conversation, and loading the newest checkpoint costs one header read when
 * this process wrote it (else the reads of that one checkpoint), never a walk of the history.
 */
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  type DeltaChannelHistory,
  type PendingWrite,
  type SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import { FrontdeskError, isFrontdeskError, type JsonObject, type SessionManager } from "../../index.ts";
import { AdapterBackend, type AdapterOptions, externalSessionId } from "../shared/backend.ts";
import { titleOf } from "./codec.ts";
import { deltaHistory, findCheckpoint, listThread, newestCheckpoint } from "./history.ts";
import { FRAMEWORK, THREAD_TAG } from "./layout.ts";
import { Pairing } from "./pairing.ts";
import { checkpointOf, Reader, writesOf } from "./reading.ts";
import { lockKey, type Target, targetOf, userOf } from "./target.ts";
import { type LoadedCheckpoint, type MessageEntry, ThreadCache, ThreadView, type WritesEvent } from "./thread.ts";
import { type Plan, type PutInput, planPut, planWrites, type WritesInput } from "./writing.ts";

/** The adapter options every Frontdesk adapter takes, and the saver's own. */
export interface FrontdeskSaverOptions extends AdapterOptions {
  /** LangGraph's serializer for channel values and writes. @default LangGraph's JsonPlusSerializer */
  serde?: SerializerProtocol;
  /**
   * Time to live of the sessions this saver creates, in ms; `null` never expires.
   * @default the manager's `defaultTtlMs`: never, on a store the saver opened from a URL
   */
  ttlMs?: number | null;
  /** Threads whose newest checkpoint this process keeps decoded. @default 1000 */
  cachedThreads?: number;
}

const COMMIT_ATTEMPTS = 20;

/** A `put` as planned: its thread and what to store. */
interface PutCall {
  target: Target;
  input: PutInput;
}

/**
 * A LangGraph checkpointer that keeps each thread in a Frontdesk session on any store, one owner per
 * call (`configurable.user_id`, else the `userId` option). See docs/adapters/langgraph.md.
 * @example
 * const checkpointer = new FrontdeskSaver({ store: "sqlite:./sessions.db" });
 * const graph = workflow.compile({ checkpointer });
 * await graph.invoke(input, { configurable: { thread_id: "t1", user_id: "alice" } });
 */
export class FrontdeskSaver extends BaseCheckpointSaver {
  private readonly backend: AdapterBackend;
  private readonly threads: ThreadCache;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly pairing = new Pairing<PutCall>();

  constructor(private readonly options: FrontdeskSaverOptions = {}) {
    super(options.serde);
    this.backend = new AdapterBackend(options);
    this.threads = new ThreadCache(options.cachedThreads ?? 1000);
  }

  /** The manager of one call's owner: `configurable.user_id` wins over the `userId` option. */
  manager(userId?: string | null): Promise<SessionManager> {
    return this.backend.managerFor(userId === undefined ? {} : { userId });
  }

  /** Closes the store when the saver opened it from a URL. */
  close(): Promise<void> {
    return this.backend.close();
  }

  /**
   * Runs `work` after every earlier call on the same thread: LangGraph fires a step's `putWrites`
   * without awaiting them, and a `put` that overtook them would store their messages twice.
   */
  private exclusive<T>(target: Target, work: () => Promise<T>): Promise<T> {
    const key = lockKey(target);
    // A call queued behind a step's writes keeps its place: the writes no longer wait for a put to join.
    this.pairing.close(key);
    const previous = this.locks.get(key);
    // An idle thread starts now, not a turn of the event loop later: LangGraph runs its own work
    // (reducers over the whole state) between turns, and a call should not wait behind it.
    const run = previous ? previous.then(work, work) : work();
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }

  /** The thread's view, with its header read now; `undefined` when the thread has no session. */
  private async view(target: Target, create: boolean, fresh = true): Promise<ThreadView | undefined> {
    const manager = await this.manager(target.userId);
    const sessionId = externalSessionId(target.threadId);
    const key = `${manager.namespace}\u0000${manager.userId ?? ""}\u0000${sessionId}`;
    let view = this.threads.get(key);
    if (view && !fresh && view.version > 0) return view;
    view ??= new ThreadView(manager, sessionId, target.threadId);
    try {
      await view.refresh(await manager.get(sessionId));
    } catch (error) {
      if (!isFrontdeskError(error, "not_found")) throw error;
      this.threads.delete(key);
      if (!create) return undefined;
      const metadata: JsonObject = { framework: FRAMEWORK, threadId: target.threadId };
      view = new ThreadView(manager, sessionId, target.threadId);
      view.unwritten = true;
      view.absorb(
        await manager.create({
          sessionId,
          metadata,
          tags: [THREAD_TAG],
          ...(this.options.ttlMs !== undefined ? { ttlMs: this.options.ttlMs } : {}),
        }),
      );
    }
    this.threads.set(key, view);
    return view;
  }

  /** Commits a plan against the version the view knows, re-planning on another writer's commit. */
  private async commit(
    target: Target,
    plan: (view: ThreadView) => Promise<Plan>,
    done: (view: ThreadView, plan: Plan) => void,
  ): Promise<void> {
    let view = (await this.view(target, true, false)) as ThreadView;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const planned = await plan(view);
        const result = await view.manager.appendEvents(view.sessionId, planned.events, {
          expectedVersion: view.version,
        });
        view.unwritten = false;
        view.version = result.version;
        view.lastSeq = result.lastSeq;
        view.messageCount += planned.messages;
        for (const entry of planned.entries) view.learn(entry);
        for (const event of planned.events) {
          const delta = event.stateDelta as JsonObject | undefined;
          if (delta) view.state = { ...view.state, ...delta };
        }
        done(view, planned);
        if (view.title === null && planned.firstHuman) await this.title(view, planned.firstHuman);
        return;
      } catch (error) {
        // Another writer committed first, or deleted the thread: read it again (creating it anew) and re-plan.
        const stale = isFrontdeskError(error, "precondition_failed") || isFrontdeskError(error, "not_found");
        if (!stale || attempt >= COMMIT_ATTEMPTS) {
          await this.forgetUnwritten(view);
          throw error;
        }
        view = (await this.view(target, true)) as ThreadView;
      }
    }
  }

  /** A failed first write leaves no empty session behind: the call changed nothing. */
  private async forgetUnwritten(view: ThreadView): Promise<void> {
    if (!view.unwritten) return;
    view.unwritten = false;
    await view.manager.delete(view.sessionId, { expectedVersion: view.version }).catch(() => undefined);
    this.threads.delete(`${view.manager.namespace}\u0000${view.manager.userId ?? ""}\u0000${view.sessionId}`);
  }

  /** Names a thread after its first user message, so it is recognisable in the console. */
  private async title(view: ThreadView, message: Parameters<typeof titleOf>[0]): Promise<void> {
    const title = titleOf(message);
    if (!title) return;
    try {
      view.absorb(await view.manager.patch(view.sessionId, { title }, { expectedVersion: view.version }));
    } catch (error) {
      // Another writer got there first; the title is cosmetic and the next write tries again.
      if (!isFrontdeskError(error, "precondition_failed")) throw error;
    }
  }

  /** The checkpoint `id` of a namespace, from this process's memory, the head, or a scan. */
  private async load(
    view: ThreadView,
    ns: string,
    id: string | undefined,
    withWrites = true,
  ): Promise<{ loaded: LoadedCheckpoint; writes: WritesEvent[] } | undefined> {
    const head = view.head(ns);
    if (head && (id === undefined || id === head.id)) {
      let loaded = view.remembered(head.id, ns);
      const missing = [...(loaded ? [] : [head.seq]), ...head.writes.filter((seq) => !loaded?.writeEvents?.has(seq))];
      const events = missing.length > 0 ? await view.eventsAt(missing) : new Map();
      if (!loaded) {
        const event = events.get(head.seq);
        loaded = event && checkpointOf(event);
        if (!loaded) {
          // Redacted (or pruned) since it was put: that checkpoint is gone, and the thread goes on
          // from the newest one left, as after a rewind. A read by its id answers nothing.
          if ((event && !event.redacted) || (event === undefined && !(await view.pruned()))) {
            throw new FrontdeskError("internal", `LangGraph thread ${view.threadId}: checkpoint ${head.id} is missing`);
          }
          if (id !== undefined) return undefined;
          const newest = await newestCheckpoint(view, ns);
          if (newest) view.remember(newest.loaded);
          return newest;
        }
        view.remember(loaded);
      }
      loaded.writeEvents ??= new Map();
      for (const seq of head.writes) {
        const event = events.get(seq);
        const writes = event && writesOf(event);
        if (writes) loaded.writeEvents.set(seq, writes);
      }
      return { loaded, writes: head.writes.map((seq) => loaded.writeEvents?.get(seq)).filter((w) => w !== undefined) };
    }
    if (id === undefined) return undefined;
    const remembered = view.remembered(id, ns);
    // A `put` needs its parent's values only, which this process may hold: no scan for its writes then.
    if (remembered && !withWrites) return { loaded: remembered, writes: [] };
    const found = await findCheckpoint(view, ns, id);
    if (!found) return undefined;
    if (remembered) return { loaded: remembered, writes: found.writes };
    view.remember(found.loaded);
    return found;
  }

  /**
   * The checkpoint `configurable.checkpoint_id` names, else the thread's newest, with its pending
   * writes; `undefined` when the owner has no such thread or checkpoint.
   */
  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const target = targetOf(config, "getTuple", false);
    if (!target) return undefined;
    return this.exclusive(target, async () => {
      const view = await this.view(target, false);
      if (!view) return undefined;
      const found = await this.load(view, target.ns, target.checkpointId);
      if (!found) return undefined;
      const reader = new Reader(this.serde, view);
      return reader.tuple(
        { thread_id: target.threadId, checkpoint_ns: target.ns },
        found.loaded,
        found.writes,
        async () => {
          const parent = found.loaded.data.parent;
          return parent === undefined ? [] : ((await findCheckpoint(view, target.ns, parent))?.writes ?? []);
        },
      );
    });
  }

  /**
   * Checkpoints newest first: of one thread (`thread_id`), or of every thread of the call's owner;
   * `checkpoint_ns`, `options.filter` (metadata fields), `options.before` and `options.limit` narrow it.
   */
  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const target = targetOf(config, "list", false);
    const userId = userOf((config.configurable ?? {}) as Record<string, unknown>, "list");
    const manager = await this.manager(userId);
    const before = options.before?.configurable?.checkpoint_id as string | undefined;
    const ns = (config.configurable as Record<string, unknown> | undefined)?.checkpoint_ns as string | undefined;
    let limit = options.limit;
    const threads: ThreadView[] = [];
    if (target) {
      const view = await this.exclusive(target, () => this.view(target, false));
      if (view) threads.push(view);
    } else {
      let cursor: string | undefined;
      do {
        const page = await manager.listSessions({ tags: [THREAD_TAG], limit: 1000, ...(cursor ? { cursor } : {}) });
        for (const session of page.items) {
          const threadId = session.metadata.threadId;
          if (session.metadata.framework !== FRAMEWORK || typeof threadId !== "string") continue;
          const view = new ThreadView(manager, session.id, threadId);
          view.absorb(session);
          threads.push(view);
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
    for (const view of threads) {
      for await (const tuple of listThread(this.serde, view, { ns, before, filter: options.filter, limit })) {
        if (limit !== undefined) {
          if (limit <= 0) return;
          limit -= 1;
        }
        yield tuple;
      }
      if (limit !== undefined && limit <= 0) return;
    }
  }

  /** Stores a checkpoint in one commit: its bookkeeping, and only the values and messages that are new. */
  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const target = targetOf(config, "put") as Target;
    if (typeof checkpoint?.id !== "string" || checkpoint.id === "") {
      throw new FrontdeskError("invalid_request", "put needs a checkpoint with an id");
    }
    const call: PutCall = {
      target,
      input: { ns: target.ns, checkpoint, metadata, newVersions, parentId: target.checkpointId },
    };
    const joined = this.pairing.join(lockKey(target), target.ns, target.checkpointId, call);
    await (joined ?? this.exclusive(target, () => this.commitPut(call)));
    return { configurable: { thread_id: target.threadId, checkpoint_ns: target.ns, checkpoint_id: checkpoint.id } };
  }

  /** Stores one task's writes against a checkpoint in one commit; messages become message events. */
  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath = ""): Promise<void> {
    const target = targetOf(config, "putWrites") as Target;
    const checkpointId = target.checkpointId;
    if (checkpointId === undefined)
      throw new FrontdeskError("invalid_request", "putWrites needs configurable.checkpoint_id");
    if (typeof taskId !== "string" || taskId === "")
      throw new FrontdeskError("invalid_request", "putWrites needs a task id");
    if (writes.length === 0) return;
    const input: WritesInput = { ns: target.ns, checkpointId, writes, taskId, taskPath };
    await this.exclusive(target, async () => {
      // LangGraph sends the next checkpoint's put right after a step's writes, within this turn of the
      // event loop: waiting for it lets one commit (one fsync) hold both, each call still whole or not at all.
      const put = await this.pairing.wait(lockKey(target), target.ns, checkpointId);
      if (!put) return this.commitWrites(target, input);
      let landed = false;
      try {
        await this.commitWritesAndPut(target, input, put.call, () => {
          landed = true;
        });
        return put.resolve();
      } catch (error) {
        // Landed and failed after (naming the thread): both calls are stored, and report the failure.
        if (landed) {
          put.reject(error);
          throw error;
        }
      }
      // The pair failed together; each call gets its own outcome, as if it had come alone.
      let writesError: unknown;
      await this.commitWrites(target, input).catch((error: unknown) => {
        writesError = error ?? new Error("putWrites failed");
      });
      await this.commitPut(put.call).then(put.resolve, put.reject);
      if (writesError !== undefined) throw writesError;
    });
  }

  private commitPut({ target, input }: PutCall): Promise<void> {
    let pending: LoadedCheckpoint | undefined;
    return this.commit(
      target,
      async (view) => {
        const parent = await this.putParent(view, target);
        const planned = await planPut(this.serde, view, new Reader(this.serde, view), parent, input);
        pending = planned.loaded;
        return planned.plan;
      },
      (view) => {
        if (pending) view.remember(pending);
        view.dropEarly(target.ns, input.checkpoint.id);
      },
    );
  }

  private async putParent(view: ThreadView, target: Target): Promise<LoadedCheckpoint | undefined> {
    return target.checkpointId ? (await this.load(view, target.ns, target.checkpointId, false))?.loaded : undefined;
  }

  private commitWrites(target: Target, input: WritesInput): Promise<void> {
    const { ns, checkpointId } = input;
    let written: MessageEntry[] = [];
    return this.commit(
      target,
      async (view) => {
        const planned = await planWrites(this.serde, view, view.remembered(checkpointId, ns), input);
        written = planned.written;
        return planned.plan;
      },
      (view, plan) => {
        const loaded = view.remembered(checkpointId, ns);
        if (!loaded) {
          if (view.head(ns)?.id !== checkpointId) view.addEarly(ns, checkpointId, view.lastSeq, written);
          return;
        }
        for (const entry of written) loaded.written.set(entry.message, entry);
        const event = plan.events.at(-1) as JsonObject;
        const head = view.head(ns);
        if (head && head.id === checkpointId) {
          loaded.writeEvents ??= new Map();
          const seq = head.writes.at(-1) as number;
          loaded.writeEvents.set(seq, { seq, data: event.data as unknown as WritesEvent["data"] });
        }
      },
    );
  }

  /** A step's writes and the put of the checkpoint that follows them, in one commit. */
  private commitWritesAndPut(
    target: Target,
    writes: WritesInput,
    { target: putTarget, input }: PutCall,
    landed: () => void,
  ): Promise<void> {
    let pending: LoadedCheckpoint | undefined;
    let written: MessageEntry[] = [];
    return this.commit(
      target,
      async (view) => {
        const first = await planWrites(this.serde, view, view.remembered(writes.checkpointId, writes.ns), writes);
        written = first.written;
        const parent = await this.putParent(view, putTarget);
        const then = await planPut(this.serde, view, new Reader(this.serde, view), parent, input, first);
        pending = then.loaded;
        return {
          events: [...first.plan.events, ...then.plan.events],
          entries: [...first.plan.entries, ...then.plan.entries],
          messages: first.plan.messages + then.plan.messages,
          ...((first.plan.firstHuman ?? then.plan.firstHuman)
            ? { firstHuman: first.plan.firstHuman ?? then.plan.firstHuman }
            : {}),
        };
      },
      (view) => {
        landed();
        // The writes' checkpoint is the put's parent, loaded while planning; the head has moved past it.
        const loaded = view.remembered(writes.checkpointId, writes.ns);
        if (loaded) for (const entry of written) loaded.written.set(entry.message, entry);
        if (pending) view.remember(pending);
        view.dropEarly(input.ns, input.checkpoint.id);
      },
    );
  }

  /**
   * Deletes the thread's session with every checkpoint and write. LangGraph passes no config here,
   * so the thread is the `userId` option's unless `options.userId` names another owner.
   */
  async deleteThread(threadId: string, options: { userId?: string | null } = {}): Promise<void> {
    const target: Target = { threadId: String(threadId), ns: "", checkpointId: undefined, userId: options.userId };
    await this.exclusive(target, async () => {
      const manager = await this.manager(target.userId);
      const sessionId = externalSessionId(target.threadId);
      await manager.delete(sessionId);
      this.threads.delete(`${manager.namespace}\u0000${manager.userId ?? ""}\u0000${sessionId}`);
    });
  }

  /** One backward scan of the thread's bookkeeping instead of a `getTuple` per ancestor. */
  override async getDeltaChannelHistory(options: {
    config: RunnableConfig;
    channels: string[];
  }): Promise<Record<string, DeltaChannelHistory>> {
    if (options.channels.length === 0) return {};
    const target = targetOf(options.config, "getDeltaChannelHistory", false);
    if (!target) return Object.fromEntries(options.channels.map((channel) => [channel, { writes: [] }]));
    return this.exclusive(target, async () => {
      const view = await this.view(target, false);
      if (!view) return Object.fromEntries(options.channels.map((channel) => [channel, { writes: [] }]));
      const id = target.checkpointId ?? view.head(target.ns)?.id;
      return deltaHistory(this.serde, view, target.ns, id, options.channels);
    });
  }
}
