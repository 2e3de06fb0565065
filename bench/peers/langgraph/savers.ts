/**
 * The checkpoint savers under test and the instrument that times them. A saver's own time in a
 * graph step is the wall time during which at least one of its calls (getTuple, put, putWrites,
 * list, getDeltaChannelHistory) is in flight: overlapping or nested calls count once, so a saver
 * whose methods call each other, or that LangGraph runs concurrently, is not charged twice.
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { POSTGRES_URL, postgresExec, postgresSchemaBytes, sqliteFileBytes, uniqueName } from "../backends.ts";

export interface SaverTiming {
  /** Microseconds with a saver call in flight, since the instrument was attached. */
  busyUs: number;
  /** `put` calls: one per graph step (superstep) that produced a checkpoint. */
  steps: number;
}

const TIMED_METHODS = ["getTuple", "put", "putWrites", "list", "getDeltaChannelHistory"] as const;

/** Wraps the saver instance's own methods (not its class) so every call is timed. */
export function instrument(saver: BaseCheckpointSaver): SaverTiming {
  const timing: SaverTiming = { busyUs: 0, steps: 0 };
  let inFlight = 0;
  let since = 0;
  const target = saver as unknown as Record<string, unknown>;
  for (const name of TIMED_METHODS) {
    const original = target[name];
    if (typeof original !== "function") continue;
    const enter = () => {
      if (inFlight++ === 0) since = performance.now();
      if (name === "put") timing.steps++;
    };
    const leave = () => {
      if (--inFlight === 0) timing.busyUs += (performance.now() - since) * 1000;
    };
    if (name === "list") {
      // An async generator: in flight from the first pull until it is exhausted or closed.
      target[name] = async function* (this: unknown, ...args: unknown[]) {
        enter();
        try {
          yield* (original as (...a: unknown[]) => AsyncGenerator<unknown>).apply(saver, args);
        } finally {
          leave();
        }
      };
    } else {
      target[name] = async (...args: unknown[]) => {
        enter();
        try {
          return await (original as (...a: unknown[]) => Promise<unknown>).apply(saver, args);
        } finally {
          leave();
        }
      };
    }
  }
  return timing;
}

/**
 * One saver family on one backend. A location (a file, a schema) is opened, closed, weighed while
 * closed (see sqliteFileBytes), and dropped, in that order.
 */
export interface SaverBackend {
  name: string;
  settings: string;
  frontdesk: boolean;
  location(): Promise<string>;
  open(location: string): Promise<{ saver: BaseCheckpointSaver; close(): Promise<void> }>;
  bytes(location: string): Promise<number>;
  drop(location: string): Promise<void>;
}

/** SqliteSaver as shipped (WAL, better-sqlite3's NORMAL), or at synchronous=FULL like Frontdesk's default. */
export function sqliteSaverBackend(dir: string, name: string, settings: string, synchronous?: "FULL"): SaverBackend {
  return {
    name,
    settings,
    frontdesk: false,
    location: async () => join(dir, `${uniqueName("sqlitesaver")}.db`),
    async open(path) {
      const saver = SqliteSaver.fromConnString(path);
      // Runs its own set-up (tables, WAL) now, so an empty database is weighed after it.
      await saver.getTuple({ configurable: { thread_id: "setup" } });
      if (synchronous) saver.db.pragma(`synchronous = ${synchronous}`);
      return {
        saver,
        close: async () => {
          saver.db.close();
        },
      };
    },
    bytes: async (path) => sqliteFileBytes(path),
    drop: async () => undefined,
  };
}

export function postgresSaverBackend(name: string, settings: string): SaverBackend | undefined {
  const url = POSTGRES_URL;
  if (!url) return undefined;
  return {
    name,
    settings,
    frontdesk: false,
    location: async () => uniqueName("pgsaver"),
    async open(schema) {
      const saver = PostgresSaver.fromConnString(url, { schema });
      await saver.setup();
      return { saver, close: () => saver.end() };
    },
    bytes: (schema) => postgresSchemaBytes(url, schema),
    drop: (schema) => postgresExec(url, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
  };
}
