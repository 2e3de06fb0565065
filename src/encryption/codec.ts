/**
 * What is sealed and what stays plaintext, in one place (docs/encryption.md, "What stays
 * plaintext"):
 *
 * - An event is stored as its envelope (`seq`, `id`, `at`, `type`), the structural fields of its
 *   type listed in {@link PLAINTEXT_FIELDS}, and ONE sealed field holding the whole event but its
 *   seq. Reading returns `{ seq, ...opened }`, so the event comes back exactly as written, key
 *   order included; the plaintext copies are for stores and operators, never read back.
 * - State values (the session's own, `user:`, `app:`) and metadata values are sealed one by one;
 *   their keys stay plaintext, so a one-level merge patch still maps onto every store.
 * - Everything else of a header (ids, status, title, purpose, tags, times, version, stats,
 *   lineage) stays plaintext: stores index it, filter on it and compute on it.
 *
 * A value that is not in the sealed form is passed through when read: data written before
 * encryption was turned on stays readable, and `encryptInPlace` seals it.
 */
import { LruMap } from "../core/lru-map.ts";
import type { Json, JsonObject, SessionEvent, SessionHeader, SessionKey } from "../core/model.ts";
import { deepFreeze } from "../core/state.ts";
import type { AppendRequest, Commit, ScopedState, ScopedWrite } from "../core/store-contract.ts";
import { type DataKeys, isKeyDestroyed, type OpenedStamp } from "./data-keys.ts";
import {
  type DataKey,
  dataKeyIdOf,
  eventPlace,
  headerPlace,
  integrityFailure,
  isSealed,
  scopePlace,
  sealJson,
  sealText,
  unsealJson,
  unsealText,
} from "./seal.ts";

/** The field of a stored event that holds the sealed event. */
export const SEALED_FIELD = "sealed";

/**
 * Structural fields kept in plaintext beside the sealed event: the ones that name no content and
 * that stores, indexes and operators may need (tool names and statuses, roles, token usage,
 * decisions, ranges). A message's `name` (it may be a person's) is sealed; so are an unknown
 * type's fields, and any field not listed (content, input, output, error, text, data, reason,
 * stateDelta, extra fields).
 */
export const PLAINTEXT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  message: ["role", "toolCallId", "usage", "model", "finish"],
  tool_call: ["invocationId", "tool"],
  tool_result: ["invocationId", "tool", "status", "durationMs"],
  state: [],
  status: ["status", "scope", "previous"],
  summary: ["throughSeq"],
  custom: ["name"],
  approval_request: ["approvalId", "invocationId", "tool"],
  approval_response: ["approvalId", "decision"],
};

type Fields = Record<string, unknown>;

export const isSealedEvent = (event: object): boolean => isSealed((event as Fields)[SEALED_FIELD]);

/** `event` as stored: envelope, plaintext structural fields, and the rest (all of it, but seq) sealed. */
export function sealEvent<E extends object>(event: E, key: DataKey, session: SessionKey): E {
  const { seq, ...body } = event as Fields;
  const stored: Fields = seq === undefined ? {} : { seq };
  // The id first: the Redis append script splices `{"seq":n,` in front of the JSON text.
  stored.id = body.id;
  stored.at = body.at;
  stored.type = body.type;
  for (const field of PLAINTEXT_FIELDS[String(body.type)] ?? []) {
    if (body[field] !== undefined) stored[field] = body[field];
  }
  stored[SEALED_FIELD] = sealJson(key, eventPlace(session, String(body.id)), body);
  return stored as E;
}

/** Whether a state or metadata record has a value not yet sealed. */
export const hasUnsealedValues = (values: JsonObject): boolean =>
  Object.values(values).some((value) => !isSealed(value));

const collectIds = (values: Iterable<unknown>, ids: Set<string>): void => {
  for (const value of values) {
    if (!isSealed(value)) continue;
    const id = dataKeyIdOf(value);
    if (id === undefined) throw integrityFailure();
    ids.add(id);
  }
};

/** Opened data keys by id; `undefined` for a destroyed key when the read tolerates it. */
type OpeningKeys = ReadonlyMap<string, Buffer | undefined>;

/** Values whose JSON text is longer are sealed afresh each time rather than remembered. */
const REMEMBERED_VALUE_CHARS = 2048;

/**
 * The last sealed form of each small state, metadata and scoped value, by place. A header is
 * rewritten whole on every commit, so without it every commit would seal every value again and
 * every read would open them all: an unchanged value keeps its ciphertext (which the stored header
 * already shows unchanged) and is opened from here.
 */
class RememberedValues {
  private readonly entries: LruMap<string, { readonly sealed: string; readonly json: string }>;

  constructor(size: number) {
    this.entries = new LruMap(size);
  }

  seal(key: DataKey, place: string, value: unknown): string {
    const json = JSON.stringify(value);
    const known = this.entries.get(place);
    if (known && known.json === json && dataKeyIdOf(known.sealed) === key.id) return known.sealed;
    const sealed = sealText(key, place, json);
    if (json.length <= REMEMBERED_VALUE_CHARS) this.entries.set(place, { sealed, json });
    return sealed;
  }

  open(key: Buffer, place: string, sealed: string): Json {
    const known = this.entries.get(place);
    if (known?.sealed === sealed) return JSON.parse(known.json) as Json;
    const json = unsealText(key, place, sealed);
    let value: Json;
    try {
      value = JSON.parse(json) as Json;
    } catch {
      throw integrityFailure();
    }
    if (json.length <= REMEMBERED_VALUE_CHARS) this.entries.set(place, { sealed, json });
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}

const headerKey = (header: SessionHeader): SessionKey => ({
  namespace: header.namespace,
  userId: header.userId,
  id: header.id,
});

/** Seals what a store is given and opens what it returns, with each owner's data key. */
export class Codec {
  private readonly remembered: RememberedValues;
  private readonly openedHeaders = new WeakMap<SessionHeader, { stamp: OpenedStamp; header: SessionHeader }>();

  constructor(
    readonly keys: DataKeys,
    rememberedValues = 4096,
  ) {
    this.remembered = new RememberedValues(rememberedValues);
  }

  /** Destroys the owner's data key (crypto-shredding), and forgets every value opened in this process. */
  async forget(namespace: string, userId: string): Promise<void> {
    this.remembered.clear();
    await this.keys.forget(namespace, userId);
  }

  /** Seals every value of `values` (`onlyUnsealed`: those not sealed yet); `keepNull`: a delta's deletes stay null. */
  sealValues(
    values: JsonObject,
    key: DataKey,
    placeOf: (name: string) => string,
    options: { keepNull?: boolean; onlyUnsealed?: boolean } = {},
  ): JsonObject {
    const out: JsonObject = {};
    for (const [name, value] of Object.entries(values)) {
      if ((options.keepNull && value === null) || (options.onlyUnsealed && isSealed(value))) out[name] = value;
      else out[name] = this.remembered.seal(key, placeOf(name), value);
    }
    return out;
  }

  private openValues(values: JsonObject, keys: OpeningKeys, placeOf: (name: string) => string): JsonObject {
    const out: JsonObject = {};
    for (const [name, value] of Object.entries(values)) {
      if (!isSealed(value)) {
        out[name] = value;
        continue;
      }
      const key = keys.get(dataKeyIdOf(value) as string);
      // Its key was destroyed (a list tolerates that): the value is gone for good, so it is left out.
      if (key !== undefined) out[name] = this.remembered.open(key, placeOf(name), value);
    }
    return out;
  }

  async sealCommit(commit: Commit): Promise<Commit> {
    const { key: session, header } = commit;
    const needsKey =
      commit.events.length > 0 ||
      (commit.rewrites?.length ?? 0) > 0 ||
      Object.keys(header.state).length > 0 ||
      Object.keys(header.metadata).length > 0;
    const key = needsKey ? await this.keys.forSealing(session.namespace, session.userId) : undefined;
    const scoped = commit.scoped && (await Promise.all(commit.scoped.map((write) => this.sealScoped(session, write))));
    if (!key) return scoped ? { ...commit, scoped } : commit;
    return {
      ...commit,
      header: this.sealHeader(header, key),
      events: commit.events.map((event) => sealEvent(event, key, session)),
      ...(commit.rewrites ? { rewrites: commit.rewrites.map((event) => sealEvent(event, key, session)) } : {}),
      ...(scoped ? { scoped } : {}),
    };
  }

  async sealAppend(request: AppendRequest): Promise<AppendRequest> {
    const key = await this.keys.forSealing(request.key.namespace, request.key.userId);
    return { ...request, events: request.events.map((event) => sealEvent(event, key, request.key)) };
  }

  /** The header with its state and metadata values sealed (`onlyUnsealed`: those not sealed yet). */
  sealHeader(header: SessionHeader, key: DataKey, onlyUnsealed = false): SessionHeader {
    const session = headerKey(header);
    return {
      ...header,
      state: this.sealValues(header.state, key, (name) => headerPlace(session, "state", name), { onlyUnsealed }),
      metadata: this.sealValues(header.metadata, key, (name) => headerPlace(session, "metadata", name), {
        onlyUnsealed,
      }),
    };
  }

  /** A scoped write with its values sealed by the scope's key (the owner's for `user:`, the namespace's for `app:`). */
  async sealScoped(session: SessionKey, write: ScopedWrite): Promise<ScopedWrite> {
    const values = Object.values(write.delta);
    if (values.every((value) => value === null)) return write;
    const owner = write.scope === "app" ? null : session.userId;
    const key = await this.keys.forSealing(session.namespace, owner);
    const delta = this.sealValues(
      write.delta,
      key,
      (name) => scopePlace(session.namespace, write.scope, session.userId, name),
      { keepNull: true },
    );
    return { ...write, delta };
  }

  /**
   * {@link openHeader}, remembering the result for a frozen header that the store hands out again
   * until the session changes (memory, SQLite's read cache): an unchanged session is opened once,
   * and the manager can reuse what it built from it, as it does without encryption.
   */
  async openStoredHeader(header: SessionHeader): Promise<SessionHeader> {
    if (!Object.isFrozen(header)) return this.openHeader(header);
    const known = this.openedHeaders.get(header);
    if (known && this.keys.isFresh(known.stamp)) return known.header;
    const stamp = this.keys.stamp();
    const opened = deepFreeze(await this.openHeader(header));
    this.openedHeaders.set(header, { stamp, header: opened });
    return opened;
  }

  /**
   * Opens a header. `lenient` (lists): values whose data key was destroyed are left out instead
   * of failing the whole page, so an erasure in progress can still list what it must delete.
   */
  async openHeader(header: SessionHeader, lenient = false): Promise<SessionHeader> {
    const ids = new Set<string>();
    collectIds(Object.values(header.state), ids);
    collectIds(Object.values(header.metadata), ids);
    if (ids.size === 0) return header;
    const keys = await this.openingKeys(header.namespace, header.userId, ids, lenient);
    const session = headerKey(header);
    return {
      ...header,
      state: this.openValues(header.state, keys, (name) => headerPlace(session, "state", name)),
      metadata: this.openValues(header.metadata, keys, (name) => headerPlace(session, "metadata", name)),
    };
  }

  async openEvents(session: SessionKey, events: SessionEvent[]): Promise<SessionEvent[]> {
    const ids = new Set<string>();
    for (const event of events) collectIds([(event as Fields)[SEALED_FIELD]], ids);
    if (ids.size === 0) return events;
    const keys = await this.openingKeys(session.namespace, session.userId, ids, false);
    return events.map((event) => {
      const sealed = (event as Fields)[SEALED_FIELD];
      if (!isSealed(sealed)) return event;
      const body = unsealJson(keys.get(dataKeyIdOf(sealed) as string) as Buffer, eventPlace(session, event.id), sealed);
      if (body === null || typeof body !== "object" || Array.isArray(body)) throw integrityFailure();
      return { seq: event.seq, ...body } as SessionEvent;
    });
  }

  async openScope(
    namespace: string,
    scope: "user" | "app",
    userId: string | null,
    scoped: ScopedState,
  ): Promise<ScopedState> {
    const ids = new Set<string>();
    collectIds(Object.values(scoped.state), ids);
    if (ids.size === 0) return scoped;
    const keys = await this.openingKeys(namespace, scope === "app" ? null : userId, ids, false);
    return {
      state: this.openValues(scoped.state, keys, (name) => scopePlace(namespace, scope, userId, name)),
      version: scoped.version,
    };
  }

  private async openingKeys(
    namespace: string,
    userId: string | null,
    ids: ReadonlySet<string>,
    lenient: boolean,
  ): Promise<OpeningKeys> {
    const keys = new Map<string, Buffer | undefined>();
    for (const id of ids) {
      try {
        keys.set(id, await this.keys.forOpening(namespace, userId, id));
      } catch (error) {
        if (!(lenient && isKeyDestroyed(error))) throw error;
        keys.set(id, undefined);
      }
    }
    return keys;
  }
}
