/**
 * `FrontdeskMemoryStorage`: Mastra's memory domain (threads, messages, resources) on Frontdesk.
 */
import { isDeepStrictEqual } from "node:util";
import type { MastraMessageContentV2 } from "@mastra/core/agent";
import type { MastraDBMessage, StorageThreadType } from "@mastra/core/memory";
import {
  calculatePagination,
  compareByField,
  MemoryStorage,
  normalizePerPage,
  type StorageListMessagesInput,
  type StorageListMessagesOutput,
  type StorageListThreadsInput,
  type StorageListThreadsOutput,
  type StorageResourceType,
} from "@mastra/core/storage";
import { FrontdeskError, isFrontdeskError } from "../../index.ts";
import { AdapterBackend, type AdapterOptions, findSession } from "../shared/backend.ts";
import { RESOURCE_SESSION_ID, resourceOf, THREAD_TAG, threadOf, toJson } from "./codec.ts";
import { Directory, type ThreadSession } from "./directory.ts";
import { deleteFromThread, readAllMessages, saveToThread } from "./message-log.ts";
import { listMessages, listMessagesById } from "./message-queries.ts";
import { moveThread, patchThread, saveThreadSession } from "./thread-writes.ts";

type MessageUpdate = Parameters<MemoryStorage["updateMessages"]>[0]["messages"][number];

const RESOURCE_TAG = "mastra.resource";

const required = (value: unknown, name: string): string => {
  if (typeof value !== "string" || value.trim() === "") {
    throw new FrontdeskError("invalid_request", `${name} must be a non-empty string`);
  }
  return value;
};

/**
 * Mastra's memory domain on Frontdesk: each thread is a Frontdesk session owned by the thread's
 * resource, each message a `message` event in it, each resource's working memory a session of that
 * resource. Plug it in as the `memory` domain of a `MastraCompositeStore`, or use `FrontdeskStore`.
 *
 * @example
 * const storage = new MastraCompositeStore({
 *   id: "app",
 *   domains: { memory: new FrontdeskMemoryStorage({ store: "sqlite:./sessions.db" }) },
 * });
 */
export class FrontdeskMemoryStorage extends MemoryStorage {
  override readonly supportsPartialThreadUpdate = true;
  private readonly backend: AdapterBackend;
  private readonly directory: Directory;

  constructor(options: AdapterOptions = {}) {
    super();
    this.backend = new AdapterBackend(options);
    this.directory = new Directory(this.backend);
  }

  /** Closes the store when this storage opened it from a URL. */
  async close(): Promise<void> {
    await this.backend.close();
  }

  // ----- threads -----

  async getThreadById({ threadId, resourceId }: { threadId: string; resourceId?: string }) {
    const thread = await this.directory.thread(required(threadId, "threadId"), resourceId);
    return thread ? threadOf(thread.session) : null;
  }

  async saveThread({ thread }: { thread: StorageThreadType }): Promise<StorageThreadType> {
    required(thread?.id, "thread.id");
    required(thread.resourceId, "thread.resourceId");
    await saveThreadSession(this.directory, thread);
    return thread;
  }

  async updateThread(args: { id: string; title?: string; metadata?: Record<string, unknown> }) {
    const updated = await patchThread(this.directory, required(args.id, "id"), undefined, (current) => ({
      ...(args.title !== undefined ? { title: args.title } : {}),
      ...(args.metadata !== undefined ? { metadata: { ...current.metadata, ...args.metadata } } : {}),
    }));
    if (!updated) throw new FrontdeskError("not_found", `Thread with id ${args.id} not found`);
    return updated;
  }

  /** A read-modify-write of the thread's metadata, compare-and-set against its version (across processes too). */
  override async updateThreadMetadata(args: {
    id: string;
    resourceId?: string;
    update: (thread: StorageThreadType) => Record<string, unknown> | undefined;
  }) {
    return patchThread(this.directory, required(args.id, "id"), args.resourceId, (current) => {
      const metadata = args.update(current);
      return metadata === undefined ? undefined : { metadata: { ...current.metadata, ...metadata } };
    });
  }

  async deleteThread({ threadId }: { threadId: string }): Promise<void> {
    const thread = await this.directory.thread(required(threadId, "threadId"));
    if (thread) {
      const ids = (await readAllMessages(thread)).map((place) => place.stored.id as string);
      await thread.sessions.delete(thread.id);
      await this.directory.forgetMessages(ids);
    }
    await this.directory.forgetThread(threadId);
  }

  async listThreads(args: StorageListThreadsInput): Promise<StorageListThreadsOutput> {
    const { page = 0, perPage: perPageInput, orderBy, filter } = args;
    const { field, direction } = this.parseOrderBy(orderBy);
    this.validatePaginationInput(page, perPageInput ?? 100);
    this.validateMetadataKeys(filter?.metadata);
    const perPage = normalizePerPage(perPageInput, 100);
    const sessions =
      filter?.resourceId !== undefined
        ? await this.directory.owner(filter.resourceId)
        : (await this.backend.base()).forNamespace((await this.backend.managerFor()).namespace);
    let threads: StorageThreadType[] = [];
    for (let cursor: string | undefined; ; ) {
      const found = await sessions.listSessions({ tags: [THREAD_TAG], limit: 1000, ...(cursor ? { cursor } : {}) });
      for (const session of found.items) {
        const thread = threadOf(session);
        if (thread && (filter?.resourceId === undefined || thread.resourceId === filter.resourceId))
          threads.push(thread);
      }
      if (!found.nextCursor) break;
      cursor = found.nextCursor;
    }
    const wanted = Object.entries(filter?.metadata ?? {});
    if (wanted.length > 0) {
      threads = threads.filter((thread) =>
        wanted.every(([key, value]) =>
          isDeepStrictEqual(toJson({ v: thread.metadata?.[key] }).v, toJson({ v: value }).v),
        ),
      );
    }
    threads.sort(compareByField<StorageThreadType>(field, direction));
    const { offset, perPage: perPageForResponse } = calculatePagination(page, perPageInput, perPage);
    return {
      threads: threads.slice(offset, offset + perPage),
      total: threads.length,
      page,
      perPage: perPageForResponse,
      hasMore: offset + perPage < threads.length,
    };
  }

  /** Moves the thread, its messages and its history to another resource in one import. */
  override async updateThreadResourceId({ threadId, resourceId }: { threadId: string; resourceId: string }) {
    const moved = await moveThread(this.directory, required(threadId, "threadId"), required(resourceId, "resourceId"));
    if (!moved) throw new FrontdeskError("not_found", `Thread "${threadId}" not found`);
    return moved;
  }

  // ----- messages -----

  async listMessages(args: StorageListMessagesInput): Promise<StorageListMessagesOutput> {
    return listMessages(this.directory, args, this.parseOrderBy(args.orderBy, "ASC").direction);
  }

  async listMessagesById({ messageIds }: { messageIds: string[] }): Promise<{ messages: MastraDBMessage[] }> {
    return { messages: await listMessagesById(this.directory, messageIds) };
  }

  async saveMessages({ messages }: { messages: MastraDBMessage[] }): Promise<{ messages: MastraDBMessage[] }> {
    const byThread = new Map<string, MastraDBMessage[]>();
    for (const message of messages) {
      required(message?.id, "message.id");
      const threadId = required(message.threadId, "message.threadId");
      byThread.set(threadId, [...(byThread.get(threadId) ?? []), message]);
    }
    for (const [threadId, batch] of byThread) await this.saveToThread(threadId, batch);
    return { messages };
  }

  private async threadFor(threadId: string, resourceId?: string): Promise<ThreadSession> {
    const thread =
      (resourceId !== undefined ? await this.directory.ownedThread(threadId, resourceId) : undefined) ??
      (await this.directory.thread(threadId));
    if (!thread)
      throw new FrontdeskError("not_found", `Thread ${threadId} not found: save the thread before its messages`);
    return thread;
  }

  private async saveToThread(threadId: string, messages: MastraDBMessage[]): Promise<void> {
    const thread = await this.threadFor(threadId, messages[0]?.resourceId);
    const claims = await this.directory.claimMessages(
      messages.map((message) => message.id),
      threadId,
    );
    const known = new Set([...claims].filter(([, claim]) => !claim.fresh).map(([id]) => id));
    await saveToThread(thread, messages, known);
    const movedFrom = new Map<string, string[]>();
    for (const [id, claim] of claims) {
      if (!claim.fresh && claim.was !== threadId) movedFrom.set(claim.was, [...(movedFrom.get(claim.was) ?? []), id]);
    }
    for (const [from, ids] of movedFrom) {
      const previous = await this.directory.thread(from);
      if (previous) await deleteFromThread(previous, ids, threadId);
    }
  }

  async updateMessages({ messages }: { messages: MessageUpdate[] }): Promise<MastraDBMessage[]> {
    const current = await listMessagesById(
      this.directory,
      messages.map((update) => required(update?.id, "message.id")),
    );
    const byId = new Map(current.map((message) => [message.id, message]));
    const updated: MastraDBMessage[] = [];
    for (const update of messages) {
      const stored = byId.get(update.id);
      if (!stored) continue;
      const next = mergeUpdate(stored, update);
      await this.saveToThread(next.threadId as string, [next]);
      byId.set(next.id, next);
      updated.push(next);
    }
    return updated;
  }

  override async deleteMessages(messageIds: string[]): Promise<void> {
    if (!messageIds?.length) return;
    const filed = await this.directory.messageThreads(messageIds);
    const byThread = new Map<string, string[]>();
    for (const [messageId, threadId] of filed) byThread.set(threadId, [...(byThread.get(threadId) ?? []), messageId]);
    for (const [threadId, ids] of byThread) {
      const thread = await this.directory.thread(threadId);
      if (thread) await deleteFromThread(thread, ids);
    }
    await this.directory.forgetMessages([...filed.keys()]);
  }

  // ----- resources (working memory) -----

  override async getResourceById({ resourceId }: { resourceId: string }): Promise<StorageResourceType | null> {
    const session = await findSession(
      await this.directory.owner(required(resourceId, "resourceId")),
      RESOURCE_SESSION_ID,
    );
    return session ? resourceOf(session) : null;
  }

  override async saveResource({ resource }: { resource: StorageResourceType }): Promise<StorageResourceType> {
    await this.writeResource(required(resource?.id, "resource.id"), () => resource);
    return resource;
  }

  override async updateResource(args: {
    resourceId: string;
    workingMemory?: string;
    metadata?: Record<string, unknown>;
  }): Promise<StorageResourceType> {
    return this.writeResource(required(args.resourceId, "resourceId"), (current) => {
      const now = new Date();
      if (!current) {
        return {
          id: args.resourceId,
          workingMemory: args.workingMemory,
          metadata: args.metadata ?? {},
          createdAt: now,
          updatedAt: now,
        };
      }
      return {
        ...current,
        workingMemory: args.workingMemory !== undefined ? args.workingMemory : current.workingMemory,
        metadata: { ...current.metadata, ...args.metadata },
        updatedAt: now,
      };
    });
  }

  /** Creates or rewrites the resource's session state, compare-and-set (no lost working-memory update). */
  private async writeResource(
    resourceId: string,
    next: (current: StorageResourceType | null) => StorageResourceType,
  ): Promise<StorageResourceType> {
    const sessions = await this.directory.owner(resourceId);
    for (;;) {
      const existing = await findSession(sessions, RESOURCE_SESSION_ID);
      if (existing) {
        let written: StorageResourceType | undefined;
        await sessions.update(RESOURCE_SESSION_ID, (state) => {
          written = next(resourceOf({ ...existing, state } as typeof existing));
          return { ...state, mastra: toJson(written) };
        });
        return written as StorageResourceType;
      }
      const resource = next(null);
      try {
        await sessions.create({
          sessionId: RESOURCE_SESSION_ID,
          tags: [RESOURCE_TAG],
          state: { mastra: toJson(resource) },
          ifExists: "error",
        });
        return resource;
      } catch (error) {
        if (!isFrontdeskError(error, "conflict")) throw error;
      }
    }
  }

  /** Removes every thread, message and resource this storage wrote in its namespace. */
  async dangerouslyClearAll(): Promise<void> {
    const { threads } = await this.listThreads({ perPage: false });
    for (const thread of threads) await this.deleteThread({ threadId: thread.id });
    const sessions = (await this.backend.base()).forNamespace((await this.backend.managerFor()).namespace);
    for (;;) {
      const found = await sessions.listSessions({ tags: [RESOURCE_TAG], limit: 1000 });
      for (const session of found.items) await sessions.delete({ id: session.id, userId: session.userId });
      if (found.items.length === 0 || !found.nextCursor) break;
    }
  }
}

/** An update applied as Mastra's stores apply it: content and its metadata merge one level deep. */
function mergeUpdate(stored: MastraDBMessage, update: MessageUpdate): MastraDBMessage {
  const next: MastraDBMessage = { ...stored };
  if (update.role !== undefined) next.role = update.role;
  if (update.type !== undefined) next.type = update.type;
  if (update.resourceId !== undefined) next.resourceId = update.resourceId;
  // Outside the declared type, but Mastra's own stores apply it, so callers may rely on it.
  const createdAt = (update as unknown as { createdAt?: Date }).createdAt;
  if (createdAt !== undefined) next.createdAt = createdAt;
  if (update.threadId) next.threadId = update.threadId;
  if (update.content !== undefined) {
    const content = { ...stored.content, ...update.content } as MastraMessageContentV2;
    if (stored.content.metadata && update.content.metadata) {
      content.metadata = { ...stored.content.metadata, ...update.content.metadata };
    }
    next.content = content;
  }
  return next;
}
