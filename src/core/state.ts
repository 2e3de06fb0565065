import type { Json, JsonObject, SessionEvent, SessionStats, StateDelta } from "./model.ts";

/** `user:` keys are shared by a user's sessions in a namespace, `app:` by the namespace. */
export type StateScope = "user" | "app";
export const USER_PREFIX = "user:";
export const APP_PREFIX = "app:";
/** `temp:` keys live only for the call that set them and are never persisted. */
export const TEMP_PREFIX = "temp:";
/**
 * `process:` keys belong to a live process (the agent's turn lock): stored in the session's own
 * state, so every instance sharing the store sees them, but never copied by fork, export or import,
 * since the process they describe runs only for the original session.
 */
export const PROCESS_PREFIX = "process:";

/** The state without its `process:` keys (the same object when it has none). */
export const withoutProcessKeys = <S extends JsonObject>(state: S): S => {
  let copy: JsonObject | undefined;
  for (const key of Object.keys(state)) {
    if (!key.startsWith(PROCESS_PREFIX)) continue;
    copy ??= { ...state };
    delete copy[key];
  }
  return (copy ?? state) as S;
};

export const scopeOfKey = (key: string): StateScope | "session" | "temp" =>
  key.startsWith(USER_PREFIX)
    ? "user"
    : key.startsWith(APP_PREFIX)
      ? "app"
      : key.startsWith(TEMP_PREFIX)
        ? "temp"
        : "session";

export interface ScopedDeltas {
  session: StateDelta;
  user: StateDelta;
  app: StateDelta;
}

/** Splits a delta by scope and drops `temp:` keys. Scoped keys keep their prefix. */
export const splitDelta = (delta: StateDelta): ScopedDeltas => {
  const out: ScopedDeltas = { session: {}, user: {}, app: {} };
  for (const [key, value] of Object.entries(delta)) {
    const scope = scopeOfKey(key);
    if (scope !== "temp") out[scope][key] = value;
  }
  return out;
};

export const isEmpty = (object: object): boolean => {
  for (const _ in object) return false;
  return true;
};

/** Applies a one-level merge patch: top-level keys set, `null` deletes. Returns a new object. */
export const applyDelta = <S extends JsonObject>(state: S, delta: StateDelta): S => {
  if (isEmpty(delta)) return state;
  const next: JsonObject = { ...state };
  for (const [key, value] of Object.entries(delta)) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next as S;
};

/** The top-level delta that turns `before` into `after` (removed keys become `null`). */
export const diffState = (before: JsonObject, after: JsonObject): StateDelta => {
  const delta: StateDelta = {};
  for (const key of Object.keys(before)) if (!Object.hasOwn(after, key)) delta[key] = null;
  for (const [key, value] of Object.entries(after)) {
    if (value === undefined) {
      if (Object.hasOwn(before, key)) delta[key] = null;
    } else if (!Object.hasOwn(before, key) || !jsonEqual(before[key] as Json, value)) {
      delta[key] = value;
    }
  }
  return delta;
};

export const jsonEqual = (a: Json, b: Json): boolean => {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i] as Json));
  }
  if (Array.isArray(b)) return false;
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  return aKeys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key] as Json, b[key] as Json));
};

/** RFC 7396 JSON merge patch, recursive (used by `PATCH state`). */
export const mergePatch = (target: Json, patch: Json): Json => {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const base: JsonObject = target !== null && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key] ?? null, value);
  }
  return base;
};

/** Freezes in place, all the way down, so no caller can alias stored state (adk PR #7105). */
export const deepFreeze = <T>(value: T): T => {
  if (isUnfrozenObject(value)) freezeTree(value);
  return value;
};

const isUnfrozenObject = (value: unknown): value is object =>
  value !== null && typeof value === "object" && !Object.isFrozen(value);

/**
 * Every read of events freezes what it parsed, so this is on the hot path: leaves (most of a
 * message's values are strings) are skipped without a call, and arrays walked by index.
 */
function freezeTree(value: object): void {
  Object.freeze(value);
  const children: unknown[] = Array.isArray(value) ? value : Object.values(value);
  for (let index = 0; index < children.length; index += 1) {
    const child = children[index];
    if (isUnfrozenObject(child)) freezeTree(child);
  }
}

/** A deep copy that shares nothing with its source; JSON values only. */
export const cloneJson = <T>(value: T): T => (value === undefined ? value : structuredClone(value));

/**
 * What a batch of events adds to a session's statistics, in a form a store can apply without
 * knowing event shapes (a Redis script adds these server-side). The sums keep each addend in event
 * order, so applying them repeats exactly the floating-point additions {@link accumulateStats} does.
 */
export interface StatsDelta {
  readonly messages: number;
  readonly toolCalls: number;
  readonly toolErrors: number;
  /** Tools of `tool_call` events, first occurrence first, without repeats. */
  readonly tools: readonly string[];
  readonly inputTokens: readonly number[];
  readonly outputTokens: readonly number[];
  readonly costUsd: readonly number[];
  readonly durationMs: readonly number[];
}

/** The empty sums {@link statsDeltaOf} shares: frozen, so sharing them is safe. */
const NO_ADDENDS: readonly number[] = Object.freeze([]);
const NO_TOOLS: readonly string[] = Object.freeze([]);

// Adding 0 never changes a sum that starts at 0 and only grows, so zero addends are left out.
const addend = (sums: number[] | undefined, value: number | undefined): number[] | undefined => {
  if (value === undefined || value === 0) return sums;
  if (sums === undefined) return [value];
  sums.push(value);
  return sums;
};

export const statsDeltaOf = (events: readonly Pick<SessionEvent, "type">[]): StatsDelta => {
  let messages = 0;
  let toolCalls = 0;
  let toolErrors = 0;
  // Allocated only when an event needs them: a plain message allocates none.
  let tools: string[] | undefined;
  let inputTokens: number[] | undefined;
  let outputTokens: number[] | undefined;
  let costUsd: number[] | undefined;
  let durationMs: number[] | undefined;
  for (const event of events as readonly SessionEvent[]) {
    switch (event.type) {
      case "message": {
        messages += 1;
        const usage = event.usage;
        if (usage) {
          inputTokens = addend(inputTokens, usage.inputTokens);
          outputTokens = addend(outputTokens, usage.outputTokens);
          costUsd = addend(costUsd, usage.costUsd);
        }
        break;
      }
      case "tool_call":
        toolCalls += 1;
        if (tools === undefined) tools = [event.tool];
        else if (!tools.includes(event.tool)) tools.push(event.tool);
        break;
      case "tool_result":
        if (event.status === "error") toolErrors += 1;
        durationMs = addend(durationMs, event.durationMs);
        break;
      default:
        break;
    }
  }
  return {
    messages,
    toolCalls,
    toolErrors,
    tools: tools ?? NO_TOOLS,
    inputTokens: inputTokens ?? NO_ADDENDS,
    outputTokens: outputTokens ?? NO_ADDENDS,
    costUsd: costUsd ?? NO_ADDENDS,
    durationMs: durationMs ?? NO_ADDENDS,
  };
};

/** `stats` with `delta` applied: the one definition of how events change statistics. */
export const applyStatsDelta = (stats: SessionStats, delta: StatsDelta): SessionStats => {
  const sum = (start: number, addends: readonly number[]): number => {
    let total = start;
    for (const value of addends) total += value;
    return total;
  };
  const newTools = delta.tools.filter((tool) => !stats.toolsUsed.includes(tool));
  return {
    ...stats,
    messages: stats.messages + delta.messages,
    toolCalls: stats.toolCalls + delta.toolCalls,
    toolErrors: stats.toolErrors + delta.toolErrors,
    toolsUsed: newTools.length > 0 ? [...stats.toolsUsed, ...newTools] : stats.toolsUsed,
    inputTokens: sum(stats.inputTokens, delta.inputTokens),
    outputTokens: sum(stats.outputTokens, delta.outputTokens),
    costUsd: sum(stats.costUsd, delta.costUsd),
    durationMs: sum(stats.durationMs, delta.durationMs),
  };
};

/** Folds events into statistics: the header keeps them current so reading stats never scans events. */
export const accumulateStats = (stats: SessionStats, events: readonly SessionEvent[]): SessionStats =>
  events.length === 0 ? stats : applyStatsDelta(stats, statsDeltaOf(events));
