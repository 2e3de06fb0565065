/**
 * Where a Mastra thread or message lives.
 *
 * Mastra names threads and messages by id alone (`getThreadById({ threadId })`,
 * `deleteMessages(ids)`, `listMessagesById`), while every Frontdesk read is keyed by (namespace,
 * owner, session), so that no lookup by id alone can cross users. The directory bridges the two: one
 * small header-only session per thread and per message, in a namespace of its own
 * (`<namespace>.mastra`) with no owner, whose metadata names the thread's resource or the message's
 * thread. A lookup is one `get`; the entry is written before the content it points to, so content is
 * never unreachable, and an entry whose content is gone resolves to nothing.
 */
import { randomUUID } from "node:crypto";
import type { JsonObject, Session, SessionManager } from "../../index.ts";
import { type AdapterBackend, externalSessionId, findSession } from "../shared/backend.ts";
import { THREAD_TAG, threadRecordOf } from "./codec.ts";

/** A thread's session, with the manager of its owner. */
export interface ThreadSession {
  sessions: SessionManager;
  id: string;
  session: Session;
}

export const threadSessionId = (threadId: string): string => externalSessionId(threadId);

export class Directory {
  constructor(private readonly backend: AdapterBackend) {}

  /** The manager of the resource's sessions: Mastra's resource is Frontdesk's owner. */
  owner(resourceId: string): Promise<SessionManager> {
    return this.backend.managerFor({ userId: resourceId });
  }

  private async index(): Promise<SessionManager> {
    const base = await this.backend.managerFor();
    return this.backend.managerFor({ namespace: `${base.namespace}.mastra`, userId: null });
  }

  /** The thread's session under `resourceId`, when that resource owns it. */
  async ownedThread(threadId: string, resourceId: string): Promise<ThreadSession | undefined> {
    const sessions = await this.owner(resourceId);
    const id = threadSessionId(threadId);
    const session = await findSession(sessions, id);
    if (!session || threadRecordOf(session)?.threadId !== threadId || !session.tags.includes(THREAD_TAG)) return;
    return { sessions, id, session };
  }

  /** The resource the directory names for a thread. */
  async threadOwner(threadId: string): Promise<string | undefined> {
    const entry = await findSession(await this.index(), externalSessionId(`thread.${threadId}`));
    const resourceId = (entry?.metadata as JsonObject | undefined)?.resourceId;
    return typeof resourceId === "string" ? resourceId : undefined;
  }

  /** The thread's session, found through its resource when given, else through the directory. */
  async thread(threadId: string, resourceId?: string): Promise<ThreadSession | undefined> {
    if (resourceId !== undefined) return this.ownedThread(threadId, resourceId);
    const owner = await this.threadOwner(threadId);
    return owner === undefined ? undefined : this.ownedThread(threadId, owner);
  }

  /** Names `resourceId` as the thread's owner; written before the thread's session. */
  async setThreadOwner(threadId: string, resourceId: string): Promise<void> {
    const index = await this.index();
    const id = externalSessionId(`thread.${threadId}`);
    const metadata = { threadId, resourceId };
    const entry = await index.create({ sessionId: id, metadata, ttlMs: null, absoluteTtlMs: null });
    if ((entry.metadata as JsonObject).resourceId !== resourceId) await index.updateMetadata(id, { metadata });
  }

  async forgetThread(threadId: string): Promise<void> {
    await (await this.index()).delete(externalSessionId(`thread.${threadId}`));
  }

  /**
   * Claims each message id for `threadId`. Returns, per id, whether this call made the entry (a
   * message new to Mastra) and the thread the entry named before (a message moving between threads).
   */
  async claimMessages(ids: readonly string[], threadId: string): Promise<Map<string, { fresh: boolean; was: string }>> {
    const index = await this.index();
    const claims = new Map<string, { fresh: boolean; was: string }>();
    await Promise.all(
      ids.map(async (messageId) => {
        const id = externalSessionId(`message.${messageId}`);
        const nonce = randomUUID();
        const entry = await index.create({
          sessionId: id,
          metadata: { messageId, threadId, nonce },
          ttlMs: null,
          absoluteTtlMs: null,
        });
        const stored = entry.metadata as JsonObject;
        const fresh = stored.nonce === nonce;
        const was = String(stored.threadId);
        if (!fresh && was !== threadId) await index.updateMetadata(id, { metadata: { messageId, threadId } });
        claims.set(messageId, { fresh, was });
      }),
    );
    return claims;
  }

  /** The thread each message id is filed under (ids without an entry are left out). */
  async messageThreads(ids: readonly string[]): Promise<Map<string, string>> {
    const index = await this.index();
    const threads = new Map<string, string>();
    await Promise.all(
      [...new Set(ids)].map(async (messageId) => {
        const entry = await findSession(index, externalSessionId(`message.${messageId}`));
        const threadId = (entry?.metadata as JsonObject | undefined)?.threadId;
        if (typeof threadId === "string") threads.set(messageId, threadId);
      }),
    );
    return threads;
  }

  async forgetMessages(ids: readonly string[]): Promise<void> {
    const index = await this.index();
    await Promise.all(ids.map((messageId) => index.delete(externalSessionId(`message.${messageId}`))));
  }
}
