/**
 * Mastra: the memory domain of Mastra's own `LibSQLStore` and `PostgresStore` beside Frontdesk's
 * `FrontdeskStore`, on one thread of one resource, through the calls Mastra's `Memory` makes:
 * `saveMessages` of one message, `listMessages` of the newest 50 (what recall asks for with
 * `lastMessages: 50`), `listMessages` of every message, and `listThreads` of the resource.
 *
 * @mastra/libsql and @mastra/pg declare Node ≥ 22.13 (npm warns at install on Node 20); both run
 * here on Node 20, against the repository's one copy of @mastra/core.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { MastraDBMessage } from "@mastra/core/memory";
import type { MastraCompositeStore, MemoryStorage } from "@mastra/core/storage";
import { adapterExport, adapterStores, type FreshStore } from "../adapters.ts";
import {
  BENCH_USER,
  messageText,
  OTHER_SESSIONS_PER_USER,
  POSTGRES_URL,
  postgresExec,
  postgresSchemaBytes,
  sqliteFileBytes,
  uniqueName,
} from "../backends.ts";
import { type Contender, runWorkload, type Workload } from "../harness.ts";
import { RAW_POSTGRES, rawContenders, rawSqliteName } from "../raw.ts";
import { type Comparison, comparisonChecks, type ReportedWorkload } from "../report.ts";
import type { SuiteContext } from "../suite.ts";

/** Messages per `saveMessages` call when a history is seeded: Mastra's bulk path, on every store. */
const SEED_BATCH = 500;
/** The page Mastra's recall asks for with `lastMessages: 50`, and the threads page `list` reads. */
const LAST = 50;

const LIBSQL = "Mastra LibSQLStore";
const POSTGRES = "Mastra PostgresStore";
const frontdeskName = (store: string) => `FrontdeskStore ${store}`;
const REFERENCE = frontdeskName("SQLite (full)");

/** The version of a package installed in bench/peers, for the settings column. */
function peerVersion(name: string): string {
  try {
    const manifest = readFileSync(join(import.meta.dirname, "..", "node_modules", name, "package.json"), "utf8");
    return (JSON.parse(manifest) as { version: string }).version;
  } catch {
    return "?";
  }
}

/** The i-th message of every scripted thread, in the stored form Mastra's `MessageList` hands storage. */
function messageOf(threadId: string, i: number, createdAt: Date): MastraDBMessage {
  return {
    id: `${threadId}-m${i}`,
    threadId,
    resourceId: BENCH_USER,
    role: i % 2 === 0 ? "user" : "assistant",
    createdAt,
    content: { format: 2, parts: [{ type: "text", text: messageText(i) }] },
  };
}

/**
 * One storage on one backend. A location (a file, a schema) is opened, closed, weighed while
 * closed (see sqliteFileBytes), and dropped, in that order.
 */
interface StorageBackend {
  name: string;
  settings: string;
  frontdesk: boolean;
  location(): Promise<string>;
  open(location: string): Promise<MastraCompositeStore>;
  bytes(location: string): Promise<number>;
  drop(location: string): Promise<void>;
}

async function memoryOf(storage: MastraCompositeStore, name: string): Promise<MemoryStorage> {
  await storage.init();
  const memory = await storage.getStore("memory");
  if (!memory) throw new Error(`${name} has no memory domain`);
  return memory;
}

async function createThread(memory: MemoryStorage, id: string, title: string): Promise<void> {
  const now = new Date();
  await memory.saveThread({
    thread: { id, resourceId: BENCH_USER, title, createdAt: now, updatedAt: now, metadata: {} },
  });
}

/** Fills a thread with `count` messages older than any appended later, `SEED_BATCH` per call. */
async function seed(memory: MemoryStorage, threadId: string, count: number): Promise<void> {
  const start = Date.now() - count - 60_000;
  for (let done = 0; done < count; done += SEED_BATCH) {
    const batch = Array.from({ length: Math.min(SEED_BATCH, count - done) }, (_, k) =>
      messageOf(threadId, done + k, new Date(start + done + k)),
    );
    await memory.saveMessages({ messages: batch });
  }
}

function storageContender(backend: StorageBackend): Contender {
  type Opened = { storage: MastraCompositeStore; memory: MemoryStorage; location: string };
  let opened: Promise<Opened> | undefined;
  const open = () => {
    opened ??= (async () => {
      const location = await backend.location();
      const storage = await backend.open(location);
      const memory = await memoryOf(storage, backend.name);
      for (let i = 0; i < OTHER_SESSIONS_PER_USER; i++) {
        await createThread(memory, `other-${i}`, `other ${i}`);
        await seed(memory, `other-${i}`, 2);
      }
      return { storage, memory, location };
    })();
    return opened;
  };
  return {
    name: backend.name,
    settings: backend.settings,
    frontdesk: backend.frontdesk,
    async open(size) {
      const { memory } = await open();
      const threadId = uniqueName("thread");
      await createThread(memory, threadId, `conversation of ${size}`);
      await seed(memory, threadId, size);
      const newest = () =>
        memory.listMessages({
          threadId,
          resourceId: BENCH_USER,
          perPage: LAST,
          page: 0,
          orderBy: { field: "createdAt", direction: "DESC" },
        });
      const every = () => memory.listMessages({ threadId, resourceId: BENCH_USER, perPage: false });
      const [all, recent] = [await every(), await newest()];
      if (all.messages.length !== size || recent.messages.length !== Math.min(LAST, size)) {
        throw new Error(`${backend.name}: seeded ${all.messages.length} messages (newest ${recent.messages.length})`);
      }
      let next = 5_000_000;
      return {
        ops: {
          append: () => memory.saveMessages({ messages: [messageOf(threadId, next++, new Date())] }),
          // Recall reads the newest page in descending order and turns it back to oldest first.
          last50: async () => (await newest()).messages.reverse(),
          history: every,
          list: () => memory.listThreads({ filter: { resourceId: BENCH_USER }, page: 0, perPage: LAST }),
        },
      };
    },
    async bytes(size) {
      const location = await backend.location();
      try {
        const empty = await backend.open(location);
        await createThread(await memoryOf(empty, backend.name), "measured", "measured");
        await empty.close();
        const emptyBytes = await backend.bytes(location);
        const full = await backend.open(location);
        await seed(await memoryOf(full, backend.name), "measured", size);
        await full.close();
        return (await backend.bytes(location)) - emptyBytes;
      } finally {
        await backend.drop(location);
      }
    },
    async close() {
      if (!opened) return;
      const { storage, location } = await opened;
      await storage.close();
      await backend.drop(location);
    },
  };
}

/**
 * LibSQLStore on a local file, as it ships. Its constructor sets WAL and synchronous=NORMAL on
 * the connection it opens; opening checks that the connection the calls use still says so, since
 * @libsql/client keeps a pool and a pragma holds per connection.
 */
async function libsqlBackend(dir: string): Promise<StorageBackend> {
  const { LibSQLStore } = await import("@mastra/libsql");
  return {
    name: LIBSQL,
    settings:
      `@mastra/libsql ${peerVersion("@mastra/libsql")} + @libsql/client ${peerVersion("@libsql/client")} ` +
      `(libsql ${peerVersion("libsql")}), local file, WAL, synchronous=NORMAL, busy_timeout 5000 (LibSQLStore's ` +
      "local pragmas as it ships; checked on its connection)",
    frontdesk: false,
    location: async () => join(dir, `${uniqueName("mastra")}.db`),
    async open(path) {
      const store = new LibSQLStore({ id: "bench", url: `file:${path}` });
      await store.init();
      const client = (store as unknown as { client: { execute(sql: string): Promise<{ rows: unknown[] }> } }).client;
      const pragma = async (name: string) =>
        Object.values((await client.execute(`PRAGMA ${name}`)).rows[0] as Record<string, unknown>)[0];
      const [journal, synchronous] = [await pragma("journal_mode"), await pragma("synchronous")];
      if (journal !== "wal" || Number(synchronous) !== 1) {
        throw new Error(`${LIBSQL}: journal_mode=${journal}, synchronous=${synchronous}, not WAL and NORMAL`);
      }
      return store;
    },
    bytes: async (path) => sqliteFileBytes(path),
    drop: async () => undefined,
  };
}

/** PostgresStore with its default pool, in a schema of its own dropped at close. */
async function postgresBackend(url: string): Promise<StorageBackend> {
  const { PostgresStore } = await import("@mastra/pg");
  return {
    name: POSTGRES,
    settings:
      `@mastra/pg ${peerVersion("@mastra/pg")} + pg ${peerVersion("pg")}, its default pool (max 20), ` +
      "synchronous_commit on, one schema of its own",
    frontdesk: false,
    location: async () => uniqueName("mastrapg"),
    open: async (schemaName) => new PostgresStore({ id: "bench", connectionString: url, schemaName }),
    bytes: (schema) => postgresSchemaBytes(url, schema),
    drop: (schema) => postgresExec(url, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
  };
}

type StoreClass = new (options: { store: string }) => MastraCompositeStore;

function frontdeskBackend(FrontdeskStore: StoreClass, make: () => FreshStore): StorageBackend {
  const probe = make();
  const stores = new Map<string, FreshStore>();
  return {
    name: frontdeskName(probe.name),
    settings: probe.settings,
    frontdesk: true,
    async location() {
      const store = make();
      stores.set(store.url, store);
      return store.url;
    },
    open: async (url) => new FrontdeskStore({ store: url }),
    bytes: async (url) => (await stores.get(url)?.bytes()) ?? 0,
    async drop(url) {
      await stores.get(url)?.drop();
      stores.delete(url);
    },
  };
}

/**
 * The goals: recall's read at 10,000 messages on each backend (reads do not depend on durability,
 * so against the reference row), and the append at 1,000 on the durability each peer ships:
 * LibSQLStore runs WAL at synchronous=NORMAL, so Frontdesk and the raw row run at NORMAL too.
 */
function mastraComparisons(postgres: boolean): Comparison[] {
  const comparisons: Comparison[] = [
    {
      label: "Mastra last-50 @10,000 (LibSQL)",
      metric: "last50",
      size: 10_000,
      peer: LIBSQL,
      frontdesk: REFERENCE,
      raw: rawSqliteName("full"),
      goal: 0.8,
    },
  ];
  if (postgres) {
    comparisons.push({
      label: "Mastra last-50 @10,000 (PostgreSQL)",
      metric: "last50",
      size: 10_000,
      peer: POSTGRES,
      frontdesk: frontdeskName("PostgreSQL"),
      raw: RAW_POSTGRES,
      goal: 0.8,
    });
  }
  comparisons.push({
    label: "Mastra append @1,000 (LibSQL, normal)",
    metric: "append",
    size: 1000,
    peer: LIBSQL,
    frontdesk: frontdeskName("SQLite (normal)"),
    raw: rawSqliteName("normal"),
    goal: 0.8,
  });
  if (postgres) {
    comparisons.push({
      label: "Mastra append @1,000 (PostgreSQL)",
      metric: "append",
      size: 1000,
      peer: POSTGRES,
      frontdesk: frontdeskName("PostgreSQL"),
      raw: RAW_POSTGRES,
      goal: 0.8,
    });
  }
  return comparisons;
}

export async function mastraSuite(context: SuiteContext): Promise<ReportedWorkload> {
  const backends: StorageBackend[] = [];
  const notes: string[] = [];
  const FrontdeskStore = await adapterExport<StoreClass>("mastra", "FrontdeskStore");
  if (FrontdeskStore) {
    for (const { make } of adapterStores(context.dir, ["sqlite-full", "sqlite-normal", "postgres"])) {
      backends.push(frontdeskBackend(FrontdeskStore, make));
    }
  } else {
    notes.push("FrontdeskStore is not on main yet: its rows are missing from this run.");
  }
  backends.push(await libsqlBackend(context.dir));
  const postgres = POSTGRES_URL;
  if (postgres) backends.push(await postgresBackend(postgres));
  const contenders = [
    ...backends.map(storageContender),
    ...rawContenders(context.dir, { append: "append", last50: "last50", history: "history", list: "list" }),
  ];
  const workload: Workload = {
    id: "mastra",
    title: "Mastra memory stores",
    method:
      `One resource owns ${OTHER_SESSIONS_PER_USER} short threads plus one thread per history length. Every call goes ` +
      "to the storage's memory domain (`getStore(\"memory\")`), as Mastra's `Memory` makes it: `append` is " +
      "`saveMessages` of one message; `last50` is `listMessages` with `perPage: 50`, `orderBy` createdAt DESC, " +
      "reversed (recall with `lastMessages: 50`); `history` is `listMessages` with `perPage: false`; `list` is " +
      "`listThreads` of the resource, first page of 50. Histories are seeded with `saveMessages` of " +
      `${SEED_BATCH} messages per call on every store; bytes are for a thread of its own filled the same way, in a ` +
      "fresh database.",
    operations: [{ name: "append", addsMessages: 1 }, { name: "last50" }, { name: "history" }, { name: "list" }],
    contenders,
    bytesAt: [context.bytesSize],
  };
  const result = await runWorkload(workload, context.run);
  const reference = backends[0]?.frontdesk ? REFERENCE : LIBSQL;
  const comparisons = mastraComparisons(postgres !== undefined);
  return {
    result,
    reference,
    labels: {
      append: "saveMessages (one message)",
      last50: "listMessages, newest 50 (recall)",
      history: "listMessages, every message",
      list: "listThreads of one resource (first page of 50)",
    },
    notes,
    comparisons,
    checks: comparisonChecks(result, comparisons),
  };
}
