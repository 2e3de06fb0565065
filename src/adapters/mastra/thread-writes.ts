/**
 * Thread writes: create or replace a thread's session, compare-and-set changes of its title and
 * metadata, and moving it to another resource.
 */
import type { StorageThreadType } from "@mastra/core/memory";
import { FrontdeskError, isFrontdeskError, type JsonObject } from "../../index.ts";
import { EMPTY_LOG, THREAD_TAG, threadOf, threadRecord, threadRecordOf } from "./codec.ts";
import { type Directory, threadSessionId } from "./directory.ts";

const MAX_ATTEMPTS = 50;

/**
 * Creates the thread's session under its resource, or replaces the title and metadata of the one
 * there. A thread id another resource's live thread holds is refused: taking it over would hand one
 * user's conversation to another (moving is `updateThreadResourceId`).
 */
export async function saveThreadSession(directory: Directory, thread: StorageThreadType): Promise<void> {
  const owner = await directory.threadOwner(thread.id);
  if (owner !== undefined && owner !== thread.resourceId && (await directory.ownedThread(thread.id, owner))) {
    throw new FrontdeskError("conflict", `thread ${thread.id} belongs to another resource`);
  }
  await directory.setThreadOwner(thread.id, thread.resourceId);
  const sessions = await directory.owner(thread.resourceId);
  const id = threadSessionId(thread.id);
  const record = threadRecord(thread) as unknown as JsonObject;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const existing = await directory.ownedThread(thread.id, thread.resourceId);
    if (existing) {
      await sessions.patch(
        id,
        { title: thread.title ?? null, metadata: { ...existing.session.metadata, mastra: record } },
        { expectedVersion: existing.session.version },
      );
      return;
    }
    try {
      await sessions.create({
        sessionId: id,
        title: thread.title ?? null,
        tags: [THREAD_TAG],
        metadata: { mastra: record },
        state: { mastra: EMPTY_LOG as unknown as JsonObject },
        ifExists: "error",
      });
      return;
    } catch (error) {
      if (!isFrontdeskError(error, "conflict") && !isFrontdeskError(error, "precondition_failed")) throw error;
    }
  }
  throw new FrontdeskError("conflict", `thread ${thread.id} kept changing while it was saved`);
}

/**
 * Applies `change` to the thread as it stands and commits against the version read; again on a
 * concurrent write, so a title written meanwhile is never overwritten by a stale copy.
 */
export async function patchThread(
  directory: Directory,
  threadId: string,
  resourceId: string | undefined,
  change: (current: StorageThreadType) => { title?: string; metadata?: Record<string, unknown> } | undefined,
): Promise<StorageThreadType | null> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const thread = await directory.thread(threadId, resourceId);
    const current = thread && threadOf(thread.session);
    const record = thread && threadRecordOf(thread.session);
    if (!thread || !current || !record) return null;
    const next = change(current);
    if (next === undefined) return current;
    const metadata =
      next.metadata === undefined
        ? thread.session.metadata
        : {
            ...thread.session.metadata,
            mastra: { ...record, ...threadRecord(current, next.metadata) } as unknown as JsonObject,
          };
    try {
      const session = await thread.sessions.patch(
        thread.id,
        { ...(next.title !== undefined ? { title: next.title } : {}), metadata },
        { expectedVersion: thread.session.version },
      );
      return threadOf(session);
    } catch (error) {
      if (!isFrontdeskError(error, "precondition_failed")) throw error;
    }
  }
  throw new FrontdeskError("conflict", `thread ${threadId} kept changing while it was updated`);
}

/**
 * Moves a thread to another resource: its session, history and all, is exported from the old owner
 * and imported under the new one in one commit, the directory is pointed at it, and the old session
 * is removed. Messages keep their stored form; reads report the new resource for them.
 */
export async function moveThread(
  directory: Directory,
  threadId: string,
  resourceId: string,
): Promise<StorageThreadType | null> {
  const thread = await directory.thread(threadId);
  const record = thread && threadRecordOf(thread.session);
  if (!thread || !record) return null;
  if (record.resourceId === resourceId) return threadOf(thread.session);
  const target = await directory.owner(resourceId);
  const lines: string[] = [];
  for await (const line of thread.sessions.exportSession(thread.id)) lines.push(line);
  const moved = {
    ...record,
    resourceId,
    formerResourceIds: [...new Set([...(record.formerResourceIds ?? []), record.resourceId])],
  };
  const header = JSON.parse(lines[0] as string) as { session: { metadata: JsonObject } } & JsonObject;
  lines[0] = JSON.stringify(
    withMetadata(header, { ...thread.session.metadata, mastra: moved as unknown as JsonObject }),
  );
  await directory.setThreadOwner(threadId, resourceId);
  const imported = await target.importSession(lines);
  await thread.sessions.delete(thread.id);
  return threadOf(imported);
}

/** The export's header line with the session's metadata replaced, wherever the format keeps it. */
function withMetadata(header: JsonObject, metadata: JsonObject): JsonObject {
  const session = header.session as JsonObject | undefined;
  if (session && typeof session === "object" && "metadata" in session)
    return { ...header, session: { ...session, metadata } };
  if ("metadata" in header) return { ...header, metadata };
  throw new FrontdeskError("internal", "the export header has no metadata to rewrite");
}
