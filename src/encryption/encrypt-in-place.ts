/**
 * Turning encryption on for a store that already holds data: every session's plaintext events,
 * state and metadata values, and the `user:` and `app:` state, are sealed where they are, by
 * ordinary commits (`Commit.rewrites`), in chunks. Safe while servers run on the store (a commit
 * that races a live write is retried), resumable (each chunk is one atomic commit; a rerun skips
 * what is sealed) and idempotent (a run over sealed data commits nothing).
 */
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import type { JsonObject, SessionEvent, SessionHeader, SessionKey } from "../core/model.ts";
import type { ListCursor, SessionStore } from "../core/store-contract.ts";
import { type Codec, hasUnsealedValues, isSealedEvent, SEALED_FIELD, sealEvent } from "./codec.ts";
import { encryptedStoreParts } from "./encrypted-store.ts";
import { type DataKey, isSealed, scopePlace } from "./seal.ts";

export interface EncryptInPlaceProgress {
  readonly namespace: string;
  /** Sessions of this run's namespaces, counted before it started. */
  readonly sessionsTotal: number;
  /** Sessions looked at so far (sealed or already sealed). */
  readonly sessionsDone: number;
  /** Events sealed so far. */
  readonly events: number;
  /** State and metadata values sealed so far (scoped state included). */
  readonly values: number;
  /** Commits made so far: each seals one chunk of one session. */
  readonly commits: number;
}

export interface EncryptInPlaceOptions {
  /** The namespaces to walk; a store has no list of its namespaces. */
  readonly namespaces: readonly string[];
  /** Events read and sealed per commit, at most. @default 500 */
  readonly chunkSize?: number;
  /** A chunk's commit is also cut once its sealed events reach this many bytes. @default 4_194_304 */
  readonly chunkBytes?: number;
  /** Called after every commit and every session; throwing from it stops the run (rerun to resume). */
  readonly onProgress?: (progress: EncryptInPlaceProgress) => void;
  /** Checked between commits: the run stops there, with `finished: false`. */
  readonly signal?: AbortSignal;
  /**
   * Where the store keeps files (SQLite): rebuild them (VACUUM) once done, so no stale copy of a
   * replaced plaintext row stays in free space. Blocks writers while it runs.
   * @default false (the ordinary scrub: free pages zeroed, the WAL checkpointed and truncated)
   */
  readonly thorough?: boolean;
  /** @default the system clock */
  readonly clock?: Clock;
}

export interface EncryptInPlaceResult extends Omit<EncryptInPlaceProgress, "namespace"> {
  /** False when `signal` stopped it; rerun to finish. */
  readonly finished: boolean;
  /**
   * The store's scrub of its files once everything was sealed: `pending` while a reader holds the
   * SQLite log (run again later to finish), `none` for stores without files to scrub.
   */
  readonly scrub: "done" | "pending" | "none";
}

const LIST_PAGE = 100;
/** A commit that races a live write is retried this many times before the run gives up on it. */
const MAX_CONFLICTS = 20;

class Stopped extends Error {}

/**
 * Seals, in place, everything of `namespaces` in the store under `store` (made by
 * `encryptedStore`) that is still plaintext. Each session's chunks are commits of their own,
 * bumping its version (a client holding an old ETag gets 412 and reads again). `user:` state is
 * reached through one of its owner's sessions and `app:` state through any session of the
 * namespace: scoped state of an owner without sessions is not reached.
 *
 * @example
 * await encryptInPlace(encryptedStore(inner, { masterKeys, keyRing }), { namespaces: ["default"] });
 */
export async function encryptInPlace(
  store: SessionStore,
  options: EncryptInPlaceOptions,
): Promise<EncryptInPlaceResult> {
  const parts = encryptedStoreParts(store);
  if (!parts) throw new FrontdeskError("invalid_request", "encryptInPlace needs a store made by encryptedStore");
  const { inner, codec } = parts;
  const run = new InPlaceRun(inner, codec, options);
  try {
    await run.count();
    for (const namespace of options.namespaces) await run.namespace(namespace);
  } catch (error) {
    if (error instanceof Stopped) return run.result(false, "none");
    throw error;
  }
  // The plaintext the commits replaced may linger in the store's files until they are scrubbed.
  if (!inner.scrub) return run.result(true, "none");
  const { pending } = await inner.scrub({ thorough: options.thorough === true });
  return run.result(true, pending ? "pending" : "done");
}

class InPlaceRun {
  private readonly chunkSize: number;
  private readonly chunkBytes: number;
  private readonly clock: Clock;
  private progress: Omit<EncryptInPlaceProgress, "namespace"> = {
    sessionsTotal: 0,
    sessionsDone: 0,
    events: 0,
    values: 0,
    commits: 0,
  };
  private current = "";

  constructor(
    private readonly inner: SessionStore,
    private readonly codec: Codec,
    private readonly options: EncryptInPlaceOptions,
  ) {
    this.chunkSize = options.chunkSize ?? 500;
    this.chunkBytes = options.chunkBytes ?? 4 * 1024 * 1024;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize < 1) {
      throw new FrontdeskError("invalid_request", "chunkSize must be a whole number ≥ 1");
    }
  }

  result(finished: boolean, scrub: EncryptInPlaceResult["scrub"]): EncryptInPlaceResult {
    return { ...this.progress, finished, scrub };
  }

  async count(): Promise<void> {
    let total = 0;
    for (const namespace of this.options.namespaces) {
      for await (const _ of this.sessions(namespace)) total++;
    }
    this.progress = { ...this.progress, sessionsTotal: total };
  }

  async namespace(namespace: string): Promise<void> {
    this.current = namespace;
    const ownersDone = new Set<string | null>();
    let appDone = false;
    for await (const header of this.sessions(namespace)) {
      const key: SessionKey = { namespace, userId: header.userId, id: header.id };
      await this.session(key);
      if (!ownersDone.has(key.userId)) {
        ownersDone.add(key.userId);
        await this.scope(key, "user");
      }
      if (!appDone) {
        appDone = true;
        await this.scope(key, "app");
      }
      this.report({ sessionsDone: this.progress.sessionsDone + 1 });
    }
  }

  /** Every session of the namespace, expired ones too, in a stable order (createdAt never changes). */
  private async *sessions(namespace: string): AsyncGenerator<SessionHeader> {
    let after: ListCursor | undefined;
    for (;;) {
      const page = await this.inner.list({
        namespace,
        orderBy: "createdAt",
        order: "asc",
        limit: LIST_PAGE,
        after,
        now: 0,
      });
      yield* page.items;
      const last = page.items.at(-1);
      if (!page.hasMore || !last) return;
      after = { value: last.createdAt, userId: last.userId, id: last.id };
    }
  }

  private async session(key: SessionKey): Promise<void> {
    let header = await this.inner.get(key, 0);
    let after = 0;
    let conflicts = 0;
    while (header) {
      const raw = await this.inner.readEvents(key, { after, limit: this.chunkSize });
      const plain = raw.filter((event) => !isSealedEvent(event));
      if (plain.length > 0 || hasUnsealedValues(header.state) || hasUnsealedValues(header.metadata)) {
        const outcome = await this.sealChunk(key, header, plain);
        if (outcome === "conflict") {
          // Someone wrote meanwhile: read the header and this chunk again (what was sealed is skipped).
          if (++conflicts > MAX_CONFLICTS) throw tooBusy(key);
          header = await this.inner.get(key, 0);
          continue;
        }
        if (!outcome) return;
        header = outcome;
      }
      const last = raw.at(-1);
      if (!last || raw.length < this.chunkSize) return;
      after = last.seq;
      conflicts = 0;
    }
  }

  /**
   * Seals `plain` (events of one read) and the header's plaintext values, in commits of at most
   * `chunkBytes` of sealed events. Resolves to the new header, undefined when the session is gone,
   * "conflict" when it moved.
   */
  private async sealChunk(
    key: SessionKey,
    header: SessionHeader,
    plain: readonly SessionEvent[],
  ): Promise<SessionHeader | undefined | "conflict"> {
    const sealing = await this.codec.keys.forSealing(key.namespace, key.userId);
    let current = header;
    let batch: SessionEvent[] = [];
    let bytes = 0;
    for (let i = 0; i <= plain.length; i++) {
      const event = plain[i];
      if (event) {
        const stored = sealEvent(event, sealing, key);
        batch.push(stored);
        bytes += String((stored as unknown as Record<string, unknown>)[SEALED_FIELD]).length;
      }
      if (event && bytes < this.chunkBytes) continue;
      const next = await this.commit(key, current, sealing, batch);
      if (next === "conflict" || !next) return next;
      current = next;
      batch = [];
      bytes = 0;
    }
    return current;
  }

  /**
   * One commit: `rewrites` and the header's plaintext values sealed, nothing else changed.
   * Resolves to the new header, undefined when the session is gone, "conflict" when it moved.
   */
  private async commit(
    key: SessionKey,
    header: SessionHeader,
    sealing: DataKey,
    rewrites: SessionEvent[],
  ): Promise<SessionHeader | undefined | "conflict"> {
    this.checkSignal();
    const values = countUnsealed(header.state) + countUnsealed(header.metadata);
    if (rewrites.length === 0 && values === 0) return header;
    const next: SessionHeader = { ...this.codec.sealHeader(header, sealing, true), version: header.version + 1 };
    try {
      await this.inner.commit({
        key,
        expectedVersion: header.version,
        header: next,
        events: [],
        ...(rewrites.length > 0 ? { rewrites } : {}),
        now: this.commitTime(header),
      });
    } catch (error) {
      if (isFrontdeskError(error, "conflict")) return "conflict";
      if (isFrontdeskError(error, "not_found")) return undefined;
      throw error;
    }
    this.report({
      events: this.progress.events + rewrites.length,
      values: this.progress.values + values,
      commits: this.progress.commits + 1,
    });
    return next;
  }

  /** Seals the plaintext values of the owner's `user:` state or the namespace's `app:` state, through `key`'s session. */
  private async scope(key: SessionKey, scope: "user" | "app"): Promise<void> {
    for (let attempt = 0; attempt <= MAX_CONFLICTS; attempt++) {
      const state = await this.inner.readScope(key.namespace, scope, key.userId);
      const plain: JsonObject = {};
      for (const [name, value] of Object.entries(state.state)) if (!isSealed(value)) plain[name] = value;
      const count = Object.keys(plain).length;
      if (count === 0) return;
      const header = await this.inner.get(key, 0);
      if (!header) return;
      this.checkSignal();
      const sealing = await this.codec.keys.forSealing(key.namespace, scope === "app" ? null : key.userId);
      const delta = this.codec.sealValues(plain, sealing, (name) => scopePlace(key.namespace, scope, key.userId, name));
      try {
        await this.inner.commit({
          key,
          expectedVersion: header.version,
          header: { ...header, version: header.version + 1 },
          events: [],
          scoped: [{ scope, expectedVersion: state.version, delta }],
          now: this.commitTime(header),
        });
      } catch (error) {
        if (isFrontdeskError(error, "conflict")) continue;
        if (isFrontdeskError(error, "not_found")) return;
        throw error;
      }
      this.report({ values: this.progress.values + count, commits: this.progress.commits + 1 });
      return;
    }
    throw tooBusy(key);
  }

  /**
   * The `now` of a commit: the clock's, but just before the expiry of a session already expired
   * (and not yet swept), which is sealed too and then left to expire as it was.
   */
  private commitTime(header: SessionHeader): number {
    const now = this.clock.now();
    return header.expiresAt !== null && header.expiresAt <= now ? header.expiresAt - 1 : now;
  }

  private checkSignal(): void {
    if (this.options.signal?.aborted) throw new Stopped();
  }

  private report(change: Partial<EncryptInPlaceProgress>): void {
    this.progress = { ...this.progress, ...change };
    this.options.onProgress?.({ namespace: this.current, ...this.progress });
  }
}

const countUnsealed = (values: JsonObject): number => Object.values(values).filter((value) => !isSealed(value)).length;

const tooBusy = (key: SessionKey): FrontdeskError =>
  new FrontdeskError(
    "conflict",
    `Session ${key.id} kept changing while it was being sealed; run the command again when it is quieter`,
  );
