/**
 * Google ADK: `DatabaseSessionService` (ADK's own SQL service, MikroORM) on SQLite and PostgreSQL
 * beside Frontdesk's `FrontdeskSessionService`, on the same events: `appendEvent`, `getSession`
 * with `numRecentEvents: 50`, the whole session, and `listSessions` of one user.
 */
import { join } from "node:path";
import { type BaseSessionService, createEvent, DatabaseSessionService, type Session } from "@google/adk";
import { adapterExport, adapterStores } from "../adapters.ts";
import {
  BENCH_USER,
  messageText,
  OTHER_SESSIONS_PER_USER,
  POSTGRES_URL,
  postgresDatabaseUrl,
  postgresExec,
  postgresSchemaBytes,
  sqliteFileBytes,
  uniqueName,
} from "../backends.ts";
import { type Contender, runWorkload, type Workload } from "../harness.ts";
import { RAW_POSTGRES, rawContenders, rawSqliteName } from "../raw.ts";
import { type Comparison, comparisonChecks, type ReportedWorkload } from "../report.ts";
import type { SuiteContext } from "../suite.ts";

const APP = "bench-app";

/**
 * Issue 21's ADK rows, at 1,000 events. DatabaseSessionService on SQLite runs SQLite's defaults
 * (rollback journal, synchronous=FULL), so its ceiling is the raw driver at full.
 */
const ADK_COMPARISONS: Comparison[] = [
  {
    label: "ADK appendEvent on SQLite @1,000 (full)",
    metric: "append",
    size: 1000,
    peer: "DatabaseSessionService SQLite",
    frontdesk: "FrontdeskSessionService SQLite (full)",
    raw: rawSqliteName("full"),
    goal: 0.8,
  },
  {
    label: "ADK appendEvent on PostgreSQL @1,000",
    metric: "append",
    size: 1000,
    peer: "DatabaseSessionService PostgreSQL",
    frontdesk: "FrontdeskSessionService PostgreSQL",
    raw: RAW_POSTGRES,
    goal: 0.8,
  },
];
const SEED_BATCH = 1000;

/**
 * One session service on one backend. A location (a file, a database) is opened, closed, weighed
 * while closed (see sqliteFileBytes), and dropped, in that order.
 */
interface ServiceBackend {
  name: string;
  settings: string;
  frontdesk: boolean;
  location(): Promise<string>;
  open(location: string): Promise<{
    service: BaseSessionService;
    /** Adds `count` events older than any appended later, the fastest way the store allows. */
    seed(session: Session, count: number): Promise<void>;
    close(): Promise<void>;
  }>;
  bytes(location: string): Promise<number>;
  drop(location: string): Promise<void>;
}

const eventOf = (i: number, timestamp?: number) =>
  createEvent({
    invocationId: `inv-${i}`,
    author: i % 2 === 0 ? "user" : "assistant",
    content: { role: i % 2 === 0 ? "user" : "model", parts: [{ text: messageText(i) }] },
    ...(timestamp === undefined ? {} : { timestamp }),
  });

async function appendAll(service: BaseSessionService, session: Session, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await service.appendEvent({ session, event: eventOf(i) });
}

/**
 * ADK's SQL service has no bulk append; its rows are written here through ADK's own MikroORM
 * mapping (the StorageEvent entity, so the JSON column is encoded exactly as `appendEvent` does),
 * a thousand per INSERT, with timestamps older than the session's later appends.
 */
async function ormSeed(service: DatabaseSessionService, session: Session, count: number): Promise<void> {
  const orm = (service as unknown as { orm: { em: { fork(): OrmEm } } }).orm;
  const start = Date.now() - count - 1000;
  for (let done = 0; done < count; done += SEED_BATCH) {
    const rows = Array.from({ length: Math.min(SEED_BATCH, count - done) }, (_, k) => {
      const event = eventOf(done + k, start + done + k);
      return {
        id: event.id,
        appName: session.appName,
        userId: session.userId,
        sessionId: session.id,
        invocationId: event.invocationId,
        timestamp: new Date(event.timestamp),
        eventData: event,
      };
    });
    await orm.em.fork().insertMany("StorageEvent", rows);
  }
}

interface OrmEm {
  insertMany(entity: string, rows: unknown[]): Promise<unknown>;
}

/** ADK's DatabaseSessionService on a location named by its connection string. */
function databaseServiceBackend(
  name: string,
  settings: string,
  where: Pick<ServiceBackend, "location" | "bytes" | "drop">,
): ServiceBackend {
  return {
    name,
    settings,
    frontdesk: false,
    ...where,
    async open(uri) {
      const service = new DatabaseSessionService(uri);
      await service.init();
      return {
        service,
        seed: (session, count) => ormSeed(service, session, count),
        close: async () => {
          await (service as unknown as { orm?: { close(): Promise<void> } }).orm?.close();
        },
      };
    },
  };
}

function serviceContender(backend: ServiceBackend): Contender {
  type Opened = Awaited<ReturnType<ServiceBackend["open"]>> & { location: string };
  let opened: Promise<Opened> | undefined;
  const open = () => {
    opened ??= (async () => {
      const location = await backend.location();
      const o = await backend.open(location);
      for (let i = 0; i < OTHER_SESSIONS_PER_USER; i++) {
        const other = await o.service.createSession({ appName: APP, userId: BENCH_USER });
        await appendAll(o.service, other, 2);
      }
      return { ...o, location };
    })();
    return opened;
  };
  let next = 3_000_000;
  return {
    name: backend.name,
    settings: backend.settings,
    frontdesk: backend.frontdesk,
    async open(size) {
      const { service, seed } = await open();
      const created = await service.createSession({ appName: APP, userId: BENCH_USER });
      await seed(created, size);
      const key = { appName: APP, userId: BENCH_USER, sessionId: created.id };
      const session = (await service.getSession(key)) as Session;
      const recent = await service.getSession({ ...key, config: { numRecentEvents: 50 } });
      if (session.events.length !== size || recent?.events.length !== Math.min(50, size)) {
        throw new Error(
          `${backend.name}: seeded ${session.events.length} events (recent ${recent?.events.length}), not ${size}`,
        );
      }
      return {
        ops: {
          append: () => service.appendEvent({ session, event: eventOf(next++) }),
          recent50: () => service.getSession({ ...key, config: { numRecentEvents: 50 } }),
          history: () => service.getSession(key),
          list: () => service.listSessions({ appName: APP, userId: BENCH_USER }),
        },
      };
    },
    async bytes(size) {
      const location = await backend.location();
      try {
        const empty = await backend.open(location);
        const session = await empty.service.createSession({ appName: APP, userId: BENCH_USER });
        await empty.close();
        const emptyBytes = await backend.bytes(location);
        const full = await backend.open(location);
        const reopened = (await full.service.getSession({
          appName: APP,
          userId: BENCH_USER,
          sessionId: session.id,
        })) as Session;
        await full.seed(reopened, size);
        await full.close();
        return (await backend.bytes(location)) - emptyBytes;
      } finally {
        await backend.drop(location);
      }
    },
    async close() {
      if (!opened) return;
      const { close, location } = await opened;
      await close();
      await backend.drop(location);
    },
  };
}

type ServiceClass = new (options: { store: string }) => BaseSessionService & { close?(): Promise<void> };

export async function adkSuite(context: SuiteContext): Promise<ReportedWorkload> {
  const backends: ServiceBackend[] = [];
  const notes: string[] = [];
  const FrontdeskSessionService = await adapterExport<ServiceClass>("adk", "FrontdeskSessionService");
  if (FrontdeskSessionService) {
    for (const { make } of adapterStores(context.dir, ["sqlite-full", "sqlite-normal", "postgres"])) {
      const probe = make();
      const stores = new Map<string, ReturnType<typeof make>>();
      backends.push({
        name: `FrontdeskSessionService ${probe.name}`,
        settings: probe.settings,
        frontdesk: true,
        async location() {
          const store = make();
          stores.set(store.url, store);
          return store.url;
        },
        async open(url) {
          const service = new FrontdeskSessionService({ store: url });
          return {
            service,
            seed: (session, count) => appendAll(service, session, count),
            close: async () => service.close?.(),
          };
        },
        bytes: async (url) => (await stores.get(url)?.bytes()) ?? 0,
        drop: async (url) => {
          await stores.get(url)?.drop();
          stores.delete(url);
        },
      });
    }
  } else {
    notes.push("FrontdeskSessionService is not on main yet: its rows are missing from this run.");
  }
  backends.push(
    databaseServiceBackend(
      "DatabaseSessionService SQLite",
      "MikroORM 6.6.16 + node-sqlite3 5.1.7, one connection, rollback journal, synchronous=FULL (SQLite's defaults)",
      {
        location: async () => `sqlite://${join(context.dir, `${uniqueName("adk")}.db`)}`,
        bytes: async (uri) => sqliteFileBytes(uri.slice("sqlite://".length)),
        drop: async () => undefined,
      },
    ),
  );
  const postgres = POSTGRES_URL;
  if (postgres) {
    backends.push(
      databaseServiceBackend(
        "DatabaseSessionService PostgreSQL",
        "MikroORM 6.6.16 + pg, its default pool (2–10), synchronous_commit on, one database of its own",
        {
          async location() {
            const database = uniqueName("adk");
            await postgresExec(postgres, `CREATE DATABASE ${database}`);
            return postgresDatabaseUrl(postgres, database);
          },
          bytes: (url) => postgresSchemaBytes(url, "public"),
          drop: (url) =>
            postgresExec(postgres, `DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`),
        },
      ),
    );
  }
  const workload: Workload = {
    id: "adk",
    title: "Google ADK session services",
    method:
      "One user owns 20 short sessions plus one session per history length. `append` is `appendEvent` of one text " +
      "event on the session object the caller holds; `recent50` is `getSession` with `numRecentEvents: 50`; " +
      "`history` is `getSession` of every event; `list` is `listSessions` of the user. DatabaseSessionService's " +
      "timed histories are seeded through ADK's own MikroORM entity a thousand rows per INSERT (it has no bulk " +
      "append), Frontdesk's through `appendEvent`; bytes are for a session of its own filled the same way, in a " +
      "fresh database.",
    operations: [{ name: "append", addsMessages: 1 }, { name: "recent50" }, { name: "history" }, { name: "list" }],
    contenders: [
      ...backends.map(serviceContender),
      ...rawContenders(context.dir, { append: "append", recent50: "last50", history: "history", list: "list" }),
    ],
    bytesAt: [context.bytesSize],
  };
  const result = await runWorkload(workload, context.run);
  const reference = backends[0]?.frontdesk ? (backends[0]?.name as string) : "DatabaseSessionService SQLite";
  const reported = {
    result,
    reference,
    labels: {
      append: "appendEvent",
      recent50: "getSession, numRecentEvents 50",
      history: "getSession, every event",
      list: "listSessions of one user",
    },
    notes,
  };
  return { ...reported, comparisons: ADK_COMPARISONS, checks: comparisonChecks(result, ADK_COMPARISONS) };
}
