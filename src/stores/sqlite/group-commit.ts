/**
 * Group commit across sessions. better-sqlite3 is synchronous, so commits issued in one turn of the
 * event loop (32 appenders on 32 sessions whose header reads resolve together) would otherwise each
 * pay their own `BEGIN IMMEDIATE … COMMIT`, and at `synchronous=FULL` their own fsync. Here they are
 * queued and written on the next turn, together: one transaction and one fsync for the lot, each
 * member inside a savepoint of its own, so a member whose checks throw (conflict, not_found, a
 * limit) is rolled back alone and gets its own error while the others commit. Every member is
 * answered only after the COMMIT, so an acknowledged commit is as durable as before.
 *
 * Both durabilities take this path: at `normal` there is no fsync to share, but one transaction
 * still writes each shared page (the sessions table, its indexes) to the WAL once instead of once
 * per member.
 */

import { type SessionHeader, sessionKeyId } from "../../core/model.ts";
import { deepFreeze } from "../../core/state.ts";
import type { Commit, CommitResult } from "../types.ts";
import { type CommittedRows, commitRows } from "./commands.ts";
import { ready, type SqliteContext, translateError } from "./connection.ts";
import { hintCommitted } from "./live.ts";
import type { Connection } from "./statements.ts";

/**
 * A transaction's bounds, so one flush never holds the event loop for long (the `/healthz` prober
 * must answer within 250 ms while writers are busy); what does not fit waits for the next turn.
 */
export const MAX_MEMBERS = 64;
export const MAX_EVENTS = 2048;

interface Member {
  readonly commit: Commit;
  readonly resolve: (result: CommitResult) => void;
  readonly reject: (error: unknown) => void;
  /** The stored row keeps the status, title, purpose and tags this commit writes (see commitRows). */
  keepsListedFields: boolean;
  /** Set when the member's own writes succeeded inside the transaction. */
  written: CommittedRows | undefined;
  error: unknown;
}

export class CommitQueue {
  private queued: Member[] = [];
  private scheduled = false;

  constructor(private readonly ctx: SqliteContext) {}

  submit(commit: Commit): Promise<CommitResult> {
    return new Promise((resolve, reject) => {
      this.queued.push({ commit, resolve, reject, keepsListedFields: false, written: undefined, error: undefined });
      this.schedule();
    });
  }

  /**
   * Writes everything queued now. Other writes call this first so that they land after the
   * commits issued before them, and close calls it so that nothing queued is lost.
   */
  flushAll(): void {
    while (this.queued.length > 0) this.flushChunk();
  }

  /**
   * A macrotask, not a microtask: the other appenders of this turn reach their commit only after
   * their own awaits, each in its own callback of this turn's check phase. What one chunk leaves
   * waits for the next turn, so I/O (a health probe) is served in between.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flushChunk();
      if (this.queued.length > 0) this.schedule();
    });
  }

  private flushChunk(): void {
    const chunk = this.take();
    if (chunk.length === 0) return;
    try {
      const c = ready(this.ctx);
      // This connection's own writes do not move `PRAGMA data_version`, so the cache is told here,
      // at write time: a read between submit and flush may have cached the header being replaced.
      for (const member of chunk) {
        member.keepsListedFields = keepsListedFields(
          this.ctx.cache.headers.get(sessionKeyId(member.commit.key)),
          member.commit,
        );
        this.ctx.cache.forgetCommit(member.commit);
      }
      c.transaction.immediate(writeChunk, c, chunk);
    } catch (error) {
      // BEGIN or COMMIT failed (the lock stayed taken past busyTimeoutMs, disk I/O), or SQLite gave
      // the whole transaction up: nothing of it is stored, so every member fails alike.
      const mapped = translateError(error);
      for (const member of chunk) member.reject(mapped);
      return;
    }
    for (const member of chunk) {
      const { written } = member;
      if (written === undefined) {
        member.reject(translateError(member.error));
        continue;
      }
      const { key, header } = member.commit;
      // The header as stored is known without reading it back: the next append to this session
      // (its header read comes first) is served from the cache instead of a SELECT. Members are
      // cached in commit order, so of two commits to one session the later one is what stays.
      this.ctx.cache.headers.set(sessionKeyId(key), deepFreeze(JSON.parse(written.headerJson)));
      hintCommitted(this.ctx, key, written.rid, header.version, header.lastSeq);
      member.resolve({ version: header.version, lastSeq: header.lastSeq });
    }
  }

  /** The oldest members that fit one transaction; always at least one, however large. */
  private take(): Member[] {
    let count = 0;
    let events = 0;
    for (const member of this.queued) {
      const size = member.commit.events.length + (member.commit.rewrites?.length ?? 0);
      if (count > 0 && (count === MAX_MEMBERS || events + size > MAX_EVENTS)) break;
      count++;
      events += size;
    }
    const chunk = this.queued.slice(0, count);
    this.queued = this.queued.slice(count);
    return chunk;
  }
}

/** The group's transaction body: a savepoint per member, unless the member is alone. */
function writeChunk(c: Connection, chunk: readonly Member[]): void {
  if (chunk.length === 1) {
    // Alone, a member's error may as well roll back the whole transaction: no savepoint to pay for.
    const member = chunk[0] as Member;
    member.written = commitMember(c, member);
    return;
  }
  for (const member of chunk) {
    try {
      // Nested inside the open transaction, better-sqlite3 runs this as SAVEPOINT … RELEASE, and
      // on a throw as ROLLBACK TO … RELEASE: only this member's writes are undone.
      member.written = c.transaction.immediate(commitMember, c, member);
    } catch (error) {
      // Some errors (disk full, I/O) make SQLite roll back the whole transaction, the members
      // already written with it: then the chunk fails as a whole.
      if (!c.db.inTransaction) throw error;
      member.error = error;
    }
  }
}

const commitMember = (c: Connection, member: Member) => commitRows(c, member.commit, member.keepsListedFields);

/**
 * Whether the cached header is the row this commit replaces (same version, so the same content:
 * every change moves the version) and the commit leaves its listed fields as they are. The cache
 * may be stale only if another connection wrote since; then the UPDATE's version check misses and
 * the commit is refused as it would be anyway.
 */
function keepsListedFields(cached: SessionHeader | undefined, commit: Commit): boolean {
  const { header } = commit;
  return (
    cached !== undefined &&
    commit.expectedVersion > 0 &&
    cached.version === commit.expectedVersion &&
    cached.status === header.status &&
    cached.title === header.title &&
    cached.purpose === header.purpose &&
    cached.tags.length === header.tags.length &&
    cached.tags.every((tag, index) => tag === header.tags[index])
  );
}
