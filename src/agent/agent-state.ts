import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import type { EventInput, Json, JsonObject, SessionEvent } from "../core/model.ts";
import type { Session, SessionManager } from "../core/session-manager.ts";
import { PROCESS_PREFIX } from "../core/state.ts";
import { AGENT_PHASES, type AgentPhase, type AgentStateRecord, type AgentTurnLock } from "./types.ts";

/** The default state key of the agent record. */
export const AGENT_STATE_KEY = "agent";

/**
 * Where the turn lock of the agent record under `key` is kept: `process:agent` by default, as
 * `{ "turn": {…} }`. A `process:` key is never copied by fork, export or import, so a copy taken
 * while a turn runs starts with no turn running; the rest of the record travels with the session.
 */
export const processStateKey = (key = AGENT_STATE_KEY): string => `${PROCESS_PREFIX}${key}`;

/**
 * The agent record in a session's state, or undefined when there is none (or it is not ours). Its
 * `turn` is read from the record's {@link processStateKey}. A record left `running` with no lock
 * there (a fork or import taken mid-turn) reads as `idle`: no turn runs in that session.
 */
export function readAgentState(state: Readonly<JsonObject>, key = AGENT_STATE_KEY): AgentStateRecord | undefined {
  const raw = state[key];
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return undefined;
  const record = raw as JsonObject;
  if (typeof record.name !== "string" || !(AGENT_PHASES as readonly Json[]).includes(record.phase ?? null)) {
    return undefined;
  }
  const live = state[processStateKey(key)];
  const turn =
    live !== null && typeof live === "object" && !Array.isArray(live) ? readLock((live as JsonObject).turn) : undefined;
  const phase = record.phase === "running" && !turn ? "idle" : (record.phase as AgentPhase);
  return {
    name: record.name,
    phase,
    model: typeof record.model === "string" ? record.model : "",
    ...(typeof record.step === "string" ? { step: record.step } : {}),
    ...(turn ? { turn } : {}),
    ...(typeof record.checkedThrough === "number" ? { checkedThrough: record.checkedThrough } : {}),
    ...(typeof record.error === "string" ? { error: record.error } : {}),
    updatedAt: typeof record.updatedAt === "number" ? record.updatedAt : 0,
  };
}

function readLock(raw: Json | undefined): AgentTurnLock | undefined {
  if (raw === null || raw === undefined || typeof raw !== "object" || Array.isArray(raw)) return undefined;
  const lock = raw as JsonObject;
  if (typeof lock.id !== "string" || typeof lock.startedAt !== "number") return undefined;
  return {
    id: lock.id,
    startedAt: lock.startedAt,
    heartbeatAt: typeof lock.heartbeatAt === "number" ? lock.heartbeatAt : lock.startedAt,
    startSeq: typeof lock.startSeq === "number" ? lock.startSeq : 0,
    owner: typeof lock.owner === "string" ? lock.owner : "",
  };
}

/** Plain JSON of a record without its lock (drops undefined fields), as kept under the record's key. */
export const agentStateJson = (record: AgentStateRecord): JsonObject => {
  const { turn: _lock, ...durable } = record;
  return JSON.parse(JSON.stringify(durable)) as JsonObject;
};

/**
 * The stateDelta that writes `record` under `key`, its lock under the process key. `before` is the
 * record the plan saw: a lock that was not there and is still not there is not written again.
 */
export const agentStateDelta = (
  key: string,
  record: AgentStateRecord,
  before: AgentStateRecord | undefined,
): JsonObject => {
  const delta: JsonObject = { [key]: agentStateJson(record) };
  if (record.turn) delta[processStateKey(key)] = { turn: JSON.parse(JSON.stringify(record.turn)) as JsonObject };
  else if (before?.turn) delta[processStateKey(key)] = null;
  return delta;
};

export const isStale = (lock: AgentTurnLock, now: number, staleAfterMs: number): boolean =>
  now - Math.max(lock.heartbeatAt, lock.startedAt) > staleAfterMs;

/** What a fenced commit wants to write after looking at the current session. */
export interface AgentChange {
  events: EventInput[];
  /** The new agent record (attached as the stateDelta of the last event), or undefined to leave it. */
  agent?: AgentStateRecord;
}

const MAX_ATTEMPTS = 50;

/** What a plan sees of the session besides the agent record. */
export type SessionView = Pick<Session<JsonObject>, "version" | "lastSeq" | "createdAt">;

/** Decides a commit from the session and the agent record (may throw to refuse). */
export type AgentChangePlan = (
  session: SessionView,
  agent: AgentStateRecord | undefined,
) => AgentChange | Promise<AgentChange>;

/**
 * The session as this AgentSession's own last commit (or read) left it: version, last seq and the
 * agent record it wrote. A commit planned on it is appended with that version, so it lands only if
 * nothing else wrote since, exactly as if the session had been read again; anything else (a
 * refusal, nothing to write, a version mismatch) is decided again on a fresh read.
 */
export class KnownSession {
  view: (SessionView & { agent: AgentStateRecord | undefined }) | undefined;

  forget(): void {
    this.view = undefined;
  }
}

/**
 * The one write path of the agent runtime: read the session, decide what to write from what is
 * there (`plan` may throw to refuse), and append with the version read. When anything else wrote
 * meanwhile the append fails with precondition_failed and the plan is re-run on the new session:
 * decisions such as "the lock is free" or "this turn still holds the lock" are never taken on a
 * stale read (a conflict is retried on a fresh read, never merged). With `known`, the first attempt is planned on
 * what this AgentSession's own last commit wrote instead of a read; only an append that lands with
 * that version stands, every other outcome is planned again on a read.
 */
export async function commitAgentChange(
  sessions: SessionManager<object>,
  sessionId: string,
  key: string,
  plan: AgentChangePlan,
  known?: KnownSession,
): Promise<readonly SessionEvent[]> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const remembered = known?.view;
    let view: SessionView;
    let agent: AgentStateRecord | undefined;
    if (remembered) {
      view = remembered;
      agent = remembered.agent;
    } else {
      const session = (await sessions.get(sessionId)) as unknown as Session<JsonObject>;
      view = { version: session.version, lastSeq: session.lastSeq, createdAt: session.createdAt };
      agent = readAgentState(session.state, key);
      if (known) known.view = { ...view, agent };
    }
    let change: AgentChange;
    try {
      change = await plan(view, agent);
    } catch (error) {
      if (!remembered) throw error;
      // A refusal is only ever made on a read.
      known?.forget();
      continue;
    }
    if (change.events.length === 0) {
      if (!remembered) return [];
      known?.forget();
      continue;
    }
    const events = change.events.map((event) => ({ ...event }));
    let written = agent;
    if (change.agent) {
      const last = events[events.length - 1] as EventInput;
      const delta = agentStateDelta(key, change.agent, agent);
      last.stateDelta = { ...(last.stateDelta ?? {}), ...delta };
      written = readAgentState(delta, key);
    }
    try {
      const result = await sessions.appendEvents(sessionId, events, { expectedVersion: view.version });
      if (known) {
        known.view = { version: result.version, lastSeq: result.lastSeq, createdAt: view.createdAt, agent: written };
      }
      return result.events;
    } catch (error) {
      known?.forget();
      if (!isFrontdeskError(error, "precondition_failed")) throw error;
    }
  }
  throw new FrontdeskError("conflict", "The session kept changing while the agent tried to write to it");
}
