/**
 * The stored form of a LangGraph thread in one Frontdesk session (see docs/adapters/langgraph.md).
 *
 * - Every root-graph message is one `message` event, written once: by the `putWrites` of the node
 *   that produced it, or by the `put` whose channel first holds it. In the same commit, right after
 *   it, a `tool_call` event per tool call of an AI message, a `tool_result` event for a tool message.
 * - Each `put` appends one `custom` event `langgraph.checkpoint`: the checkpoint's own fields and,
 *   per channel, the value only where its version is new. A channel carried over unchanged points
 *   at the event that stored it; a list of messages is a few runs of message events.
 * - Each `putWrites` appends one `custom` event `langgraph.writes`.
 * - The session state holds one small key per checkpoint namespace, `langgraph.ns.<ns>`: the newest
 *   checkpoint's id, its event's seq and the seqs of its writes events. So the state's size follows
 *   the number of namespaces, never the number of checkpoints.
 */
import type { Json, JsonObject } from "../../index.ts";
import type { EncodedValue } from "./codec.ts";

export const CHECKPOINT_EVENT = "langgraph.checkpoint";
export const WRITES_EVENT = "langgraph.writes";
export const FRAMEWORK = "langgraph";
export const THREAD_TAG = "langgraph";

/**
 * `[firstSeq, count, firstOrdinal]`: `count` message events in a row, the first at `firstSeq`.
 * The ordinal is the message's position among all message events of the session (the session's
 * `stats.messages` before it), so two runs join when one's ordinals continue the other's.
 */
export type Run = [number, number, number];

/** How a checkpoint or a write holds one value. */
export type ValueRef =
  | EncodedValue
  /** Stored unchanged in the checkpoint event at this seq, under the same channel. */
  | { r: number }
  /**
   * Messages: a list, a single message (`one`), or the list inside a `DeltaSnapshot` (`snap`), which
   * a DeltaChannel stores now and then in full: its messages are already events, so it costs runs.
   */
  | { m: Run[]; one?: true; snap?: true };

export interface CheckpointData {
  ns: string;
  id: string;
  parent?: string;
  v: number;
  ts: string;
  versions: Record<string, number | string>;
  seen: Record<string, Record<string, number | string>>;
  meta: EncodedValue;
  values: Record<string, ValueRef>;
  /** Seqs of writes stored before this checkpoint was put (see `EarlyWrites`). */
  early?: number[];
}

/** One write: `[channel, idx, value]`. */
export type StoredWrite = [string, number, ValueRef];

export interface WritesData {
  ns: string;
  cp: string;
  task: string;
  path: string;
  w: StoredWrite[];
}

/** The state key of one namespace: the newest checkpoint and its writes. */
export interface Head {
  id: string;
  seq: number;
  writes: number[];
}

export const headKey = (ns: string): string => `langgraph.ns.${ns}`;

export function headOf(state: Readonly<JsonObject>, ns: string): Head | undefined {
  const value = state[headKey(ns)] as Json | undefined;
  if (value === undefined || value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  return value as unknown as Head;
}

/** A run list grown by one message, joining the last run when the message continues it. */
export function pushRun(runs: Run[], seq: number, ordinal: number): void {
  const last = runs.at(-1);
  if (last && last[2] + last[1] === ordinal) last[1] += 1;
  else runs.push([seq, 1, ordinal]);
}

/** The first `count` messages of a run list. */
export function truncateRuns(runs: readonly Run[], count: number): Run[] {
  const kept: Run[] = [];
  let left = count;
  for (const [seq, n, ordinal] of runs) {
    if (left <= 0) break;
    kept.push([seq, Math.min(n, left), ordinal]);
    left -= n;
  }
  return kept;
}

export const runsLength = (runs: readonly Run[]): number => runs.reduce((sum, run) => sum + run[1], 0);
