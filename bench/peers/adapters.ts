/**
 * Frontdesk's framework adapters, loaded by their entry-point names. An adapter that has not landed
 * yet leaves its rows out with a note instead of failing the run, so the harness can be run (and
 * its peer rows recorded) before every adapter exists.
 */
import { join } from "node:path";
import { POSTGRES_URL, postgresExec, postgresSchemaBytes, sqliteFileBytes, uniqueName } from "./backends.ts";

/** A Frontdesk store on a fresh database: its URL, its size, and how to drop it. */
export interface FreshStore {
  name: string;
  settings: string;
  url: string;
  bytes(): Promise<number>;
  drop(): Promise<void>;
}

/** SQLite (full and normal) always, PostgreSQL when configured: the backends adapter rows run on. */
export function adapterStores(dir: string, kinds: readonly ("sqlite-full" | "sqlite-normal" | "postgres")[]) {
  const makers: { kind: string; make(): FreshStore }[] = [];
  for (const durability of ["full", "normal"] as const) {
    if (!kinds.includes(`sqlite-${durability}`)) continue;
    makers.push({
      kind: `sqlite-${durability}`,
      make() {
        const path = join(dir, `${uniqueName("adapter")}.db`);
        return {
          name: `SQLite (${durability})`,
          settings: `Frontdesk SQLite store: better-sqlite3, WAL, synchronous=${durability.toUpperCase()}`,
          url: `sqlite:${path}?durability=${durability}`,
          bytes: async () => sqliteFileBytes(path),
          drop: async () => undefined,
        };
      },
    });
  }
  const postgres = POSTGRES_URL;
  if (postgres && kinds.includes("postgres")) {
    makers.push({
      kind: "postgres",
      make() {
        const schema = uniqueName("fdadapter");
        return {
          name: "PostgreSQL",
          settings: "Frontdesk PostgreSQL store: pg, pool of 10, synchronous_commit on",
          url: `${postgres}${postgres.includes("?") ? "&" : "?"}schema=${schema}`,
          bytes: () => postgresSchemaBytes(postgres, schema),
          drop: () => postgresExec(postgres, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
        };
      },
    });
  }
  return makers;
}

/**
 * The named export of an adapter entry, or undefined when it is not there yet. The entry is
 * `src/adapters/<name>/index.ts`, imported as the package's `frontdesk/adapters/<name>` would be.
 */
export async function adapterExport<T>(adapter: string, name: string): Promise<T | undefined> {
  const entry = `../../src/adapters/${adapter}/index.ts`;
  const module = (await import(entry)) as Record<string, unknown>;
  return module[name] as T | undefined;
}
