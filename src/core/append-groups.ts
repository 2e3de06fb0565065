/**
 * Group commit for appends to one session. Appends that arrive while the previous group for the
 * same session is still being written (or within the same turn of the event loop) are written
 * together, as one commit: one header read, one write and, on a durable store, one fsync instead
 * of one each. Every append still gets its own events, contiguous and in arrival order, and is
 * acknowledged only after the commit that holds it is durable.
 */
import { yieldToEventLoop } from "./event-loop.ts";

/** What a group's writer answers for one member: its result, or the error that member alone gets. */
export type MemberOutcome<R> =
  | { readonly ok: true; readonly value: R }
  | { readonly ok: false; readonly error: unknown };

interface Group<T, R> {
  readonly members: T[];
  readonly settle: { resolve: (value: R) => void; reject: (error: unknown) => void }[];
  size: number;
  readonly write: (members: readonly T[]) => Promise<readonly MemberOutcome<R>[]>;
}

/** Runs work while holding the session's lock, after every holder queued before it. */
export type LockRunner = (work: () => Promise<void>) => Promise<void>;

export class AppendGroups<T, R> {
  private readonly open = new Map<string, Group<T, R>>();

  /**
   * @param waitForPendingIo Before a group closes, let I/O callbacks already due run (one
   * macrotask). Needed when writes block the event loop: otherwise no other request is ever read
   * while a group is open. With a store that awaits real I/O, groups fill while the previous one
   * writes, and the wait would only add latency to every append.
   */
  constructor(private readonly waitForPendingIo: boolean) {}

  /**
   * Adds `member` (of `size` events) to the open group for `key`, or opens one. A new group queues
   * for the session's lock at once — so writes that come after it wait for it, as they would for a
   * single append — and closes when it holds the lock and starts writing, or when another member
   * would take it past `maxSize`.
   */
  submit(
    key: string,
    member: T,
    size: number,
    maxSize: number,
    write: (members: readonly T[]) => Promise<readonly MemberOutcome<R>[]>,
    lock: LockRunner,
  ): Promise<R> {
    let group = this.open.get(key);
    if (!group || group.size + size > maxSize) {
      const opened: Group<T, R> = { members: [], settle: [], size: 0, write };
      this.open.set(key, opened);
      void lock(async () => {
        // A macrotask: I/O callbacks already due (requests read in this turn of the loop) run first.
        if (this.waitForPendingIo) await yieldToEventLoop();
        await this.flush(key, opened);
      });
      group = opened;
    }
    group.members.push(member);
    group.size += size;
    const joined = group;
    return new Promise<R>((resolve, reject) => {
      joined.settle.push({ resolve, reject });
    });
  }

  private async flush(key: string, group: Group<T, R>): Promise<void> {
    if (this.open.get(key) === group) this.open.delete(key);
    try {
      const outcomes = await group.write(group.members);
      group.settle.forEach((member, i) => {
        const outcome = outcomes[i];
        if (outcome?.ok) member.resolve(outcome.value);
        else member.reject(outcome ? outcome.error : new Error("A group commit gave no outcome for a member"));
      });
    } catch (error) {
      for (const member of group.settle) member.reject(error);
    }
  }

  /** Sessions with a group still open (for tests: none once appends have settled). */
  get openGroups(): number {
    return this.open.size;
  }
}
