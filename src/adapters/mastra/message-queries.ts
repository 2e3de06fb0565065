/**
 * Mastra's message reads over thread logs: `listMessages` (pages in `createdAt` order, date and
 * metadata filters, `include` with context around recalled messages) and `listMessagesById`.
 */
import type { MastraDBMessage } from "@mastra/core/memory";
import {
  calculatePagination,
  filterByDateRange,
  normalizePerPage,
  type StorageListMessagesInput,
  type StorageListMessagesOutput,
  storageMessageMatchesMetadataFilter,
  validateStorageMetadataFilter,
} from "@mastra/core/storage";
import { FrontdeskError } from "../../index.ts";
import { logOf, messageOf, threadRecordOf } from "./codec.ts";
import { type Directory, type ThreadSession, threadSessionId } from "./directory.ts";
import {
  canReadFromEnds,
  findMessage,
  type PlacedMessage,
  prefetchEnd,
  readAllMessages,
  readEnd,
} from "./message-log.ts";

type Direction = "ASC" | "DESC";
type Include = NonNullable<StorageListMessagesInput["include"]>[number];

/** Pages deeper than this are not read ahead of their thread: a wasted read of them would cost too much. */
const MAX_PREFETCHED = 200;

const createdAtOf = ({ createdAt }: MastraDBMessage): number =>
  createdAt instanceof Date ? createdAt.getTime() : new Date(createdAt).getTime();

/** `createdAt` order; equal times keep the order given (place order), as a stable sort does. */
const byCreatedAt =
  (direction: Direction) =>
  (a: MastraDBMessage, b: MastraDBMessage): number =>
    direction === "ASC" ? createdAtOf(a) - createdAtOf(b) : createdAtOf(b) - createdAtOf(a);

/** A stored message as read back; a thread moved to another resource reports its new owner. */
function readBack(thread: ThreadSession, place: PlacedMessage): MastraDBMessage {
  const message = messageOf(place.stored);
  const record = threadRecordOf(thread.session);
  if (record?.formerResourceIds?.includes(message.resourceId ?? "")) message.resourceId = record.resourceId;
  return message;
}

export async function listMessages(
  directory: Directory,
  args: StorageListMessagesInput,
  direction: Direction,
): Promise<StorageListMessagesOutput> {
  const { threadId, resourceId, include, filter, perPage: perPageInput, page = 0 } = args;
  const threadIds = Array.isArray(threadId) ? threadId : [threadId];
  if (threadIds.length === 0 || threadIds.some((id) => typeof id !== "string" || id.trim() === "")) {
    throw new FrontdeskError("invalid_request", "threadId must be a non-empty string or array of non-empty strings");
  }
  const metadataFilter = validateStorageMetadataFilter(filter?.metadata);
  const perPage = normalizePerPage(perPageInput, 40);
  if (!Number.isSafeInteger(page) || page < 0) throw new FrontdeskError("invalid_request", "page must be >= 0");
  if (page * perPage > Number.MAX_SAFE_INTEGER / 2) throw new FrontdeskError("invalid_request", "page is too large");
  const { offset, perPage: perPageForResponse } = calculatePagination(page, perPageInput, perPage);
  const empty = { messages: [], total: 0, page, perPage: perPageForResponse, hasMore: false };
  if (perPage === 0 && (!include || include.length === 0)) return empty;

  const fromEnd = perPage > 0 && threadIds.length === 1 && !filter?.dateRange && !metadataFilter;
  // Recall's page of one resource's thread is read together with the thread (see prefetchEnd).
  const prefetched =
    fromEnd && resourceId !== undefined && offset + perPage <= MAX_PREFETCHED
      ? prefetchEnd(
          { sessions: await directory.owner(resourceId), id: threadSessionId(threadIds[0] as string) },
          direction,
          offset + perPage,
        )
      : undefined;
  const threads = (await Promise.all(threadIds.map((id) => directory.thread(id, resourceId)))).filter(
    (thread): thread is ThreadSession => thread !== undefined,
  );
  let pageItems: MastraDBMessage[] = [];
  let total = 0;
  const [only] = threads;
  if (fromEnd && only && canReadFromEnds(only)) {
    total = logOf(only.session).count;
    const wanted = Math.min(total, offset + perPage);
    const places = await readEnd(only, direction, wanted, prefetched);
    // Fewer than asked: every live message was read, and a prune removed the others the count holds.
    if (places.length < wanted) total = places.length;
    // Sorted as places, so only the page is turned into messages (a copy each).
    const sign = direction === "ASC" ? 1 : -1;
    pageItems = places
      .map((place) => ({ place, at: new Date(place.stored.createdAt as string).getTime() }))
      .sort((a, b) => sign * (a.at - b.at))
      .slice(offset, offset + perPage)
      .map(({ place }) => readBack(only, place));
  } else if (perPage > 0) {
    let all: MastraDBMessage[] = [];
    for (const thread of threads) {
      all.push(...(await readAllMessages(thread)).map((place) => readBack(thread, place)));
    }
    if (resourceId) all = all.filter((message) => message.resourceId === resourceId);
    all = filterByDateRange(all, (message) => new Date(message.createdAt), filter?.dateRange);
    all = all.filter((message) => storageMessageMatchesMetadataFilter(message.content, metadataFilter));
    all.sort(byCreatedAt(direction));
    total = all.length;
    pageItems = all.slice(offset, offset + perPage);
  }

  const messages = [...pageItems];
  const seen = new Set(messages.map((message) => message.id));
  for (const message of await resolveIncludes(directory, include, resourceId)) {
    if (seen.has(message.id)) continue;
    seen.add(message.id);
    messages.push(message);
  }
  messages.sort(byCreatedAt(direction));

  let hasMore: boolean;
  if (perPage === 0) hasMore = false;
  else if (metadataFilter || !include?.length) hasMore = offset + (metadataFilter ? pageItems.length : perPage) < total;
  else hasMore = messages.filter((message) => threadIds.includes(message.threadId ?? "")).length < total;
  return { messages, total, page, perPage: perPageForResponse, hasMore };
}

/**
 * The recalled messages with their neighbours in their own thread (which may be another thread of
 * the resource). With a `resourceId`, nothing of another resource is ever returned.
 */
async function resolveIncludes(
  directory: Directory,
  include: readonly Include[] | undefined,
  resourceId: string | undefined,
): Promise<MastraDBMessage[]> {
  if (!include?.length) return [];
  const filed = await directory.messageThreads(include.map((item) => item.id));
  const threads = new Map<string, Promise<MastraDBMessage[] | undefined>>();
  const threadMessages = (threadId: string) => {
    let messages = threads.get(threadId);
    if (!messages) {
      messages = directory.thread(threadId, resourceId).then(async (thread) => {
        if (!thread) return undefined;
        const all = (await readAllMessages(thread)).map((place) => readBack(thread, place));
        const scoped = resourceId ? all.filter((message) => message.resourceId === resourceId) : all;
        return scoped.sort(byCreatedAt("ASC"));
      });
      threads.set(threadId, messages);
    }
    return messages;
  };
  const resolved: MastraDBMessage[] = [];
  const seen = new Set<string>();
  for (const item of include) {
    const threadId = filed.get(item.id);
    const context = threadId === undefined ? undefined : await threadMessages(threadId);
    const index = context?.findIndex((message) => message.id === item.id) ?? -1;
    if (!context || index < 0) continue;
    const from = Math.max(0, index - (item.withPreviousMessages ?? 0));
    for (const message of context.slice(from, index + (item.withNextMessages ?? 0) + 1)) {
      if (seen.has(message.id)) continue;
      seen.add(message.id);
      resolved.push(message);
    }
  }
  return resolved;
}

/** Messages by id, wherever they are filed; ids that name no live message are left out. */
export async function listMessagesById(directory: Directory, ids: readonly string[]): Promise<MastraDBMessage[]> {
  const filed = await directory.messageThreads(ids);
  const byThread = new Map<string, string[]>();
  for (const [messageId, threadId] of filed) byThread.set(threadId, [...(byThread.get(threadId) ?? []), messageId]);
  const found: MastraDBMessage[] = [];
  await Promise.all(
    [...byThread].map(async ([threadId, messageIds]) => {
      const thread = await directory.thread(threadId);
      if (!thread) return;
      for (const id of messageIds) {
        const place = await findMessage(thread, id);
        if (place) found.push(readBack(thread, place));
      }
    }),
  );
  const order = new Map(ids.map((id, index) => [id, index]));
  return found.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0)).sort(byCreatedAt("ASC"));
}
