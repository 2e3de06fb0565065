import { FrontdeskError } from "../../core/errors.ts";
import { type SessionEvent, type SessionHeader, type SessionKey, scopeKeyId, sessionKeyId } from "../../core/model.ts";
import { applyDelta, deepFreeze } from "../../core/state.ts";
import { assertCommitShape } from "../shared/commit-shape.ts";
import { compareListPosition, isExpired, listPositionOf, matchesListQuery } from "../shared/list-filter.ts";
import type {
  ApiKeyRecord,
  Commit,
  CommitResult,
  EventRange,
  IdempotencyRecord,
  ListPage,
  ListQuery,
  ScopedState,
  SessionStore,
  StoreCapabilities,
  StoreContext,
  Unsubscribe,
} from "../types.ts";

/** The memory store keeps everything in this process: for tests and ephemeral use. */
export interface MemoryStoreOptions {
  /** Upper bound on sessions held, so a runaway client cannot exhaust memory. @default 1_000_000 */
  maxSessions?: number;
}

export const STORE_NAME = "memory";

interface Room {
  header: SessionHeader;
  events: SessionEvent[];
  idempotency: Map<string, IdempotencyRecord>;
}

/**
 * A deep-frozen copy of a JSON value, made in one pass: the caller keeps its own objects (and may
 * go on changing them), while the stored copy can be handed out without copying again.
 * Properties holding `undefined` are left out, as JSON leaves them out.
 */
const frozenCopy = <T>(value: T): T => {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    const items = new Array(value.length);
    for (let i = 0; i < value.length; i++) items[i] = frozenCopy(value[i]);
    return Object.freeze(items) as T;
  }
  const copy: Record<string, unknown> = {};
  for (const name of Object.keys(value)) {
    const field = (value as Record<string, unknown>)[name];
    if (field !== undefined) copy[name] = frozenCopy(field);
  }
  return Object.freeze(copy) as T;
};

/** The index of the first event whose seq is ≥ `seq` (events are in ascending seq order). */
const indexOfSeq = (events: readonly SessionEvent[], seq: number): number => {
  let low = 0;
  let high = events.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((events[middle] as SessionEvent).seq < seq) low = middle + 1;
    else high = middle;
  }
  return low;
};

const EMPTY_SCOPE: ScopedState = deepFreeze({ state: {}, version: 0 });

/**
 * The reference implementation of the store contract, as simple as it can be. Everything is
 * copied on the way in and deep-frozen, so what it hands out is shared without copying and no
 * caller can change stored data through it.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): SessionStore {
  const maxSessions = options.maxSessions ?? 1_000_000;
  const rooms = new Map<string, Room>();
  const scopes = new Map<string, ScopedState>();
  const apiKeys = new Map<string, ApiKeyRecord>();
  const listeners = new Map<string, Set<(lastSeq: number) => void>>();
  let closed = false;

  const open = (): void => {
    if (closed) throw new FrontdeskError("unavailable", "The memory store is closed");
  };
  const live = (key: SessionKey, now: number): Room | undefined => {
    const room = rooms.get(sessionKeyId(key));
    return room && !isExpired(room.header, now) ? room : undefined;
  };

  // Blocking in the contract's sense: no call ever waits for I/O, so only a wait for pending I/O lets
  // appends from separate requests share a commit.
  const capabilities: StoreCapabilities = { shared: false, blocking: true };

  return {
    name: STORE_NAME,
    capabilities,

    async commit(commit: Commit): Promise<CommitResult> {
      open();
      const id = sessionKeyId(commit.key);
      const existing = rooms.get(id);
      const current = existing && !isExpired(existing.header, commit.now) ? existing : undefined;
      if (commit.expectedVersion === 0) {
        if (current) {
          throw new FrontdeskError("conflict", "A session with this id already exists", {
            details: { currentVersion: current.header.version },
          });
        }
        if (!existing && rooms.size >= maxSessions) {
          throw new FrontdeskError("unavailable", "The memory store is full");
        }
      } else {
        if (!current) throw new FrontdeskError("not_found", "Session not found");
        if (current.header.version !== commit.expectedVersion) {
          throw new FrontdeskError("conflict", "The session changed since it was read", {
            details: { currentVersion: current.header.version },
          });
        }
      }
      assertCommitShape(commit, current?.header.lastSeq ?? 0);
      const scopeUpdates: [string, ScopedState][] = [];
      for (const write of commit.scoped ?? []) {
        const sk = scopeKeyId(commit.key.namespace, write.scope, commit.key.userId);
        const scope = scopes.get(sk) ?? { state: {}, version: 0 };
        if (scope.version !== write.expectedVersion) {
          throw new FrontdeskError("conflict", `The ${write.scope}: state changed since it was read`, {
            details: { scope: write.scope, currentVersion: scope.version },
          });
        }
        scopeUpdates.push([
          sk,
          Object.freeze({ state: frozenCopy(applyDelta(scope.state, write.delta)), version: scope.version + 1 }),
        ]);
      }
      // Everything is checked: from here on nothing can fail, so the commit is whole.
      for (const [sk, scope] of scopeUpdates) scopes.set(sk, scope);
      const room: Room = current ?? { header: commit.header, events: [], idempotency: new Map() };
      room.header = frozenCopy(commit.header);
      const removed = commit.removeEvents;
      if (removed) room.events = room.events.filter((e) => e.seq <= removed.after || e.seq >= removed.before);
      for (const event of commit.rewrites ?? []) {
        const at = indexOfSeq(room.events, event.seq);
        if (room.events[at]?.seq === event.seq) room.events[at] = frozenCopy(event);
      }
      for (const event of commit.events) room.events.push(frozenCopy(event));
      if (commit.idempotency) room.idempotency.set(commit.idempotency.key, { ...commit.idempotency });
      rooms.set(id, room);
      const lastSeq = room.header.lastSeq;
      for (const listener of listeners.get(id) ?? []) queueMicrotask(() => listener(lastSeq));
      return { version: room.header.version, lastSeq };
    },

    async get(key, now) {
      open();
      const room = live(key, now);
      return room?.header;
    },

    async touch(key, times, now) {
      open();
      const room = live(key, now);
      if (!room) return false;
      room.header = { ...room.header, expiresAt: times.expiresAt, lastAccessedAt: times.lastAccessedAt };
      return true;
    },

    async readEvents(key, range: EventRange) {
      open();
      const room = rooms.get(sessionKeyId(key));
      if (!room) return [];
      const after = range.after ?? 0;
      const before = range.before ?? Number.POSITIVE_INFINITY;
      const limit = range.limit ?? Number.POSITIVE_INFINITY;
      const types = range.types && range.types.length > 0 ? new Set(range.types) : undefined;
      const out: SessionEvent[] = [];
      // Events are held in seq order (pruning may leave gaps), so both directions start at the
      // boundary found by bisection instead of scanning.
      if (range.order === "desc") {
        for (let i = indexOfSeq(room.events, before) - 1; i >= 0 && out.length < limit; i--) {
          const event = room.events[i] as SessionEvent;
          if (event.seq <= after) break;
          if (!types || types.has(event.type)) out.push(event);
        }
      } else {
        for (let i = indexOfSeq(room.events, after + 1); i < room.events.length && out.length < limit; i++) {
          const event = room.events[i] as SessionEvent;
          if (event.seq >= before) break;
          if (!types || types.has(event.type)) out.push(event);
        }
      }
      return out;
    },

    async list(query: ListQuery): Promise<ListPage> {
      open();
      const matching = [...rooms.values()]
        .map((room) => room.header)
        .filter((header) => matchesListQuery(header, query))
        .sort((a, b) => compareListPosition(listPositionOf(a, query.orderBy), listPositionOf(b, query.orderBy)));
      if (query.order === "desc") matching.reverse();
      const items = matching.slice(0, query.limit + 1);
      return { items: items.slice(0, query.limit), hasMore: items.length > query.limit };
    },

    async count(namespace, userId, now) {
      open();
      let n = 0;
      for (const room of rooms.values()) {
        const h = room.header;
        if (h.namespace === namespace && h.userId === userId && !isExpired(h, now)) n++;
      }
      return n;
    },

    async delete(key, condition) {
      open();
      const id = sessionKeyId(key);
      if (condition) {
        const room = live(key, condition.now);
        if (!room) return false;
        if (room.header.version !== condition.expectedVersion) {
          throw new FrontdeskError("conflict", "The session changed since it was read", {
            details: { currentVersion: room.header.version },
          });
        }
      }
      const had = rooms.delete(id);
      if (had) for (const listener of listeners.get(id) ?? []) queueMicrotask(() => listener(0));
      return had;
    },

    async sweep(now, limit) {
      open();
      let removed = 0;
      for (const [id, room] of rooms) {
        if (removed >= limit) break;
        if (isExpired(room.header, now)) {
          rooms.delete(id);
          removed++;
        }
      }
      return removed;
    },

    async readScope(namespace, scope, userId) {
      open();
      return scopes.get(scopeKeyId(namespace, scope, userId)) ?? EMPTY_SCOPE;
    },

    async eraseScope(namespace, userId) {
      open();
      return scopes.delete(scopeKeyId(namespace, "user", userId));
    },

    async findIdempotency(key, idempotencyKey) {
      open();
      const record = rooms.get(sessionKeyId(key))?.idempotency.get(idempotencyKey);
      return record ? { ...record } : undefined;
    },

    async subscribe(key, onHint): Promise<Unsubscribe> {
      open();
      const id = sessionKeyId(key);
      let set = listeners.get(id);
      if (!set) listeners.set(id, (set = new Set()));
      set.add(onHint);
      return async () => {
        set.delete(onHint);
        if (set.size === 0) listeners.delete(id);
      };
    },

    async putApiKey(record) {
      open();
      if ([...apiKeys.values()].some((k) => k.hash === record.hash) || apiKeys.has(record.id)) {
        throw new FrontdeskError("conflict", "An API key with this id or hash exists");
      }
      apiKeys.set(record.id, { ...record });
    },
    async findApiKey(hash) {
      open();
      for (const record of apiKeys.values()) if (record.hash === hash) return { ...record };
      return undefined;
    },
    async listApiKeys() {
      open();
      return [...apiKeys.values()].map((k) => ({ ...k })).sort((a, b) => a.createdAt - b.createdAt);
    },
    async revokeApiKey(id, at) {
      open();
      const record = apiKeys.get(id);
      if (!record || record.revokedAt !== null) return false;
      apiKeys.set(id, { ...record, revokedAt: at });
      return true;
    },

    async close() {
      closed = true;
      listeners.clear();
    },
  };
}

/** `memory:` — nothing to configure. */
export function openFromUrl(_url: URL, _context: StoreContext): SessionStore {
  return createMemoryStore();
}
