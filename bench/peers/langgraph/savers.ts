/**
 * The checkpoint savers under test: LangGraph's own on SQLite and PostgreSQL. The instrument that
 * times them (and FrontdeskSaver) is in instrument.ts.
 */
import { join } from "node:path";
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { POSTGRES_URL, postgresExec, postgresSchemaBytes, sqliteFileBytes, uniqueName } from "../backends.ts";

export { instrument, type SaverTiming } from "./instrument.ts";

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
