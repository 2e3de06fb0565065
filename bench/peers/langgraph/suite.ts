/**
 * LangGraph: the same StateGraph and script on SqliteSaver (default messages channel and
 * DeltaChannel), PostgresSaver, and Frontdesk's FrontdeskSaver; whole turns, the savers' own time
 * per graph step, reading the state back, and bytes for a conversation built turn by turn.
 * Checks the framework-adapters issue's LangGraph goals.
 */
import { HumanMessage } from "@langchain/core/messages";
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import { type Checkpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { adapterExport, adapterStores } from "../adapters.ts";
import { BENCH_USER, messageText, uniqueName } from "../backends.ts";
import { bytesOf, type Contender, cellOf, runWorkload, type Workload } from "../harness.ts";
import { formatBytes, formatMicros } from "../plot.ts";
import { RAW_POSTGRES, rawContenders, rawSqliteName } from "../raw.ts";
import { type Check, type Comparison, comparisonChecks, type ReportedWorkload } from "../report.ts";
import type { SuiteContext } from "../suite.ts";
import { conversationGraph, type MessagesChannel, seedMessages } from "./graph.ts";
import { instrument, postgresSaverBackend, type SaverBackend, type SaverTiming, sqliteSaverBackend } from "./savers.ts";

/** The update size the seed uses: within Frontdesk's default of 1,000 events per append. */
const SEED_CHUNK = 500;

export const SQLITE_SAVER = "SqliteSaver";
export const SQLITE_SAVER_DELTA = "SqliteSaver + DeltaChannel";
export const SQLITE_SAVER_FULL = "SqliteSaver (synchronous=FULL)";
export const FRONTDESK_SAVER = "FrontdeskSaver SQLite (full)";
export const FRONTDESK_SAVER_NORMAL = "FrontdeskSaver SQLite (normal)";

/** Issue 21's LangGraph row, at equal durability, and its PostgreSQL counterpart. */
const LANGGRAPH_COMPARISONS: Comparison[] = [
  {
    label: "LangGraph put @1,000 (full)",
    metric: "put",
    size: 1000,
    peer: SQLITE_SAVER_FULL,
    frontdesk: FRONTDESK_SAVER,
    raw: rawSqliteName("full"),
    goal: 0.8,
  },
  {
    label: "LangGraph put @1,000 (PostgreSQL)",
    metric: "put",
    size: 1000,
    peer: "PostgresSaver",
    frontdesk: "FrontdeskSaver PostgreSQL",
    raw: RAW_POSTGRES,
    goal: 0.8,
  },
];

function saverContender(backend: SaverBackend, channel: MessagesChannel, weigh = true): Contender {
  type Timed = Awaited<ReturnType<SaverBackend["open"]>> & { timing: SaverTiming; location: string };
  let timed: Promise<Timed> | undefined;
  let next = 2_000_000;
  return {
    name: backend.name,
    settings: backend.settings,
    frontdesk: backend.frontdesk,
    async open(size) {
      timed ??= (async () => {
        const location = await backend.location();
        const opened = await backend.open(location);
        return { ...opened, location, timing: instrument(opened.saver) };
      })();
      const { saver, timing } = await timed;
      const graph = conversationGraph(channel, saver);
      const threadId = uniqueName("thread");
      for (let filled = 0; filled < size; filled += SEED_CHUNK) {
        await graph.seed(threadId, seedMessages(filled, Math.min(SEED_CHUNK, size - filled)));
      }
      const seeded = (await graph.state(threadId)).length;
      if (seeded !== size) throw new Error(`${backend.name}: seeded ${seeded} messages, not ${size}`);
      const put = channel === "default" ? await rawPut(saver, threadId, () => messageText(next++)) : undefined;
      return {
        ops: {
          ...(put ? { put } : {}),
          turn: async () => {
            const busyUs = timing.busyUs;
            const steps = timing.steps;
            await graph.turn(threadId, messageText(next++));
            return { saverUs: timing.busyUs - busyUs, steps: timing.steps - steps };
          },
          state: () => graph.state(threadId),
        },
      };
    },
    bytes: weigh ? weighConversation : undefined,
    async close() {
      if (!timed) return;
      const { close, location } = await timed;
      await close();
      await backend.drop(location);
    },
  };

  async function weighConversation(size: number): Promise<number> {
    const location = await backend.location();
    try {
      await (await backend.open(location)).close();
      const empty = await backend.bytes(location);
      const { saver, close } = await backend.open(location);
      const graph = conversationGraph(channel, saver);
      const threadId = uniqueName("thread");
      for (let i = 0; i < size / 2; i++) await graph.turn(threadId, messageText(i * 2));
      await close();
      return (await backend.bytes(location)) - empty;
    } finally {
      await backend.drop(location);
    }
  }
}

/**
 * `put` called directly, as LangGraph's loop calls it after a step: the thread's newest checkpoint
 * again with one more message in its messages channel, a new id, and that channel's next version.
 * Each saver stores it its own way: SqliteSaver and PostgresSaver serialize the whole list again,
 * FrontdeskSaver appends the new message and a checkpoint event in one commit.
 */
export async function rawPut(saver: BaseCheckpointSaver, threadId: string, text: () => string) {
  let config = { configurable: { thread_id: threadId, checkpoint_ns: "", user_id: BENCH_USER } } as Parameters<
    BaseCheckpointSaver["put"]
  >[0];
  const tuple = await saver.getTuple(config);
  if (!tuple) throw new Error(`no checkpoint on thread ${threadId}`);
  // The saver hands back configs without the caller's own keys; the owner stays on every call.
  const own = (next: typeof config) => ({ configurable: { ...next.configurable, user_id: BENCH_USER } });
  config = own(tuple.config);
  let checkpoint: Checkpoint = tuple.checkpoint;
  let step = (tuple.metadata?.step ?? 0) + 1;
  return async () => {
    const messages = checkpoint.channel_values.messages as unknown[];
    const version = saver.getNextVersion(checkpoint.channel_versions.messages as number | undefined);
    checkpoint = {
      ...checkpoint,
      id: uuid6(-1),
      ts: new Date().toISOString(),
      channel_values: { ...checkpoint.channel_values, messages: [...messages, new HumanMessage(text())] },
      channel_versions: { ...checkpoint.channel_versions, messages: version },
    };
    config = own(
      await saver.put(config, checkpoint, { source: "update", step: step++, parents: {} }, { messages: version }),
    );
  };
}

type SaverClass = new (options: { store: string }) => BaseCheckpointSaver & { close?(): Promise<void> };

async function frontdeskSaverBackends(context: SuiteContext): Promise<{ backends: SaverBackend[]; note?: string }> {
  const FrontdeskSaver = await adapterExport<SaverClass>("langgraph", "FrontdeskSaver");
  if (!FrontdeskSaver) {
    return { backends: [], note: "FrontdeskSaver is not on main yet: its rows are missing from this run." };
  }
  const backends = adapterStores(context.dir, ["sqlite-full", "sqlite-normal", "postgres"]).map(({ make }) => {
    const stores = new Map<string, ReturnType<typeof make>>();
    const probe = make();
    return {
      name: `FrontdeskSaver ${probe.name}`,
      settings: probe.settings,
      frontdesk: true,
      async location() {
        const store = make();
        stores.set(store.url, store);
        return store.url;
      },
      async open(url) {
        const saver = new FrontdeskSaver({ store: url });
        await saver.getTuple({ configurable: { thread_id: "setup" } });
        return { saver, close: async () => saver.close?.() };
      },
      bytes: async (url) => (await stores.get(url)?.bytes()) ?? 0,
      drop: async (url) => {
        await stores.get(url)?.drop();
        stores.delete(url);
      },
    } satisfies SaverBackend;
  });
  return { backends };
}

export async function langgraphSuite(context: SuiteContext): Promise<ReportedWorkload> {
  const sqliteSettings = "better-sqlite3, WAL, synchronous=NORMAL (better-sqlite3's build default under WAL)";
  const peers: [SaverBackend | undefined, MessagesChannel, boolean?][] = [
    [sqliteSaverBackend(context.dir, SQLITE_SAVER, `${sqliteSettings}; default messages channel`), "default"],
    [
      sqliteSaverBackend(
        context.dir,
        SQLITE_SAVER_FULL,
        "as SqliteSaver, with synchronous=FULL set on its connection (Frontdesk's default durability); bytes as SqliteSaver's",
        "FULL",
      ),
      "default",
      false,
    ],
    [sqliteSaverBackend(context.dir, SQLITE_SAVER_DELTA, `${sqliteSettings}; DeltaChannel messages`), "delta"],
    [postgresSaverBackend("PostgresSaver", "pg pool of 10 (its default); default messages channel"), "default"],
    [
      postgresSaverBackend(
        "PostgresSaver + DeltaChannel",
        "pg pool of 10 (its default); DeltaChannel; bytes not weighed",
      ),
      "delta",
      false,
    ],
  ];
  const frontdesk = await frontdeskSaverBackends(context);
  const contenders = [
    // Durability does not change what is stored: the normal-durability row is not weighed again.
    ...frontdesk.backends.map((b) => saverContender(b, "default", b.name !== FRONTDESK_SAVER_NORMAL)),
    ...peers.flatMap(([backend, channel, weigh]) => (backend ? [saverContender(backend, channel, weigh)] : [])),
    ...rawContenders(context.dir, { put: "append" }),
  ];
  const workload: Workload = {
    id: "langgraph",
    title: "LangGraph checkpoint savers",
    method:
      "A `StateGraph` with one `agent` node that calls a scripted chat model (`FakeListChatModel`, the same replies " +
      "for every saver) on the whole message list. `turn` is one `graph.invoke` with a user message (two graph steps: " +
      "input and agent, two messages); `saver time per step` is the time during which one of the saver's own calls " +
      "(getTuple, put, putWrites, list, getDeltaChannelHistory) was in flight in that turn, less the time the thread " +
      "ran other code meanwhile, divided by its `put` calls. LangGraph does not wait for its saver: it runs its " +
      "reducers and the next node while a call is in flight; code counts as the saver's in a call and in the async " +
      "continuations the call's code created (async_hooks, the same for every saver), and waiting for I/O counts as " +
      "the saver's; " +
      "`state` is `graph.getState`, the whole history read back. The timed histories are seeded with " +
      `\`updateState\` in updates of ${SEED_CHUNK} messages (the fastest path a graph offers; turn by turn, SqliteSaver ` +
      "would write tens of gigabytes for 10,000 messages); the bytes are for a conversation built turn by turn. " +
      "FrontdeskSaver runs the default-channel graph, as its users' graphs do. To keep the run near ten minutes, the " +
      "500 turns are weighed once per stored form: not again for another durability, nor for PostgresSaver + " +
      "DeltaChannel (over two minutes of turns on PostgreSQL). `put` is the saver's `put` called directly with the " +
      "thread's newest checkpoint plus one message (default channel only); the raw rows do their two-write append.",
    operations: [{ name: "turn", addsMessages: 2 }, { name: "put", addsMessages: 1 }, { name: "state" }],
    derived: [{ name: "saverStep", from: "turn", value: (c) => (c.saverUs ?? 0) / Math.max(1, c.steps ?? 0) }],
    contenders,
    bytesAt: [context.bytesSize],
  };
  const result = await runWorkload(workload, context.run);
  const reported = {
    result,
    reference: contenders.some((c) => c.name === FRONTDESK_SAVER) ? FRONTDESK_SAVER : SQLITE_SAVER,
    labels: {
      turn: "one StateGraph turn (two steps)",
      put: "put of a checkpoint with one more message",
      saverStep: "the saver's own time per graph step",
      state: "read the whole history (getState)",
    },
    notes: frontdesk.note ? [frontdesk.note] : [],
  };
  return {
    ...reported,
    comparisons: LANGGRAPH_COMPARISONS,
    checks: [...langgraphChecks(reported, context.bytesSize), ...comparisonChecks(result, LANGGRAPH_COMPARISONS)],
  };
}

/**
 * The LangGraph goals of the framework-adapters issue, at 1,000 messages (or the largest ≤ 1,000).
 * Times are checked as shipped (Frontdesk's default full durability against SqliteSaver's NORMAL)
 * and at equal durability (full against full, normal against normal); bytes do not depend on it.
 */
export function langgraphChecks(reported: Omit<ReportedWorkload, "checks">, bytesSize: number): Check[] {
  const { result } = reported;
  const checks: Check[] = [];
  const sizes = [...new Set(result.cells.map((c) => c.size))].filter((s) => s <= 1000);
  const at = sizes.length > 0 ? Math.max(...sizes) : undefined;
  const n = (value: number) => value.toLocaleString("en");
  const bytes = bytesOf(result, FRONTDESK_SAVER, bytesSize);
  const plain = bytesOf(result, SQLITE_SAVER, bytesSize);
  const delta = bytesOf(result, SQLITE_SAVER_DELTA, bytesSize);
  if (bytes !== undefined && plain !== undefined) {
    checks.push({
      goal: `FrontdeskSaver on SQLite stores ${n(bytesSize)} messages in ≤ 1/20 of SqliteSaver's bytes`,
      met: bytes * 20 <= plain,
      value: `${formatBytes(bytes)} vs ${formatBytes(plain)} (1/${(plain / bytes).toFixed(0)})`,
    });
  }
  if (bytes !== undefined && delta !== undefined) {
    checks.push({
      goal: `FrontdeskSaver on SQLite stores ${n(bytesSize)} messages in ≤ SqliteSaver + DeltaChannel's bytes`,
      met: bytes <= delta,
      value: `${formatBytes(bytes)} vs ${formatBytes(delta)}`,
    });
  }
  if (at === undefined) return checks;
  const pairs: [string, string, string][] = [
    [FRONTDESK_SAVER, SQLITE_SAVER, "as shipped: full vs NORMAL"],
    [FRONTDESK_SAVER, SQLITE_SAVER_FULL, "same durability: full vs FULL"],
    [FRONTDESK_SAVER_NORMAL, SQLITE_SAVER, "same durability: normal vs NORMAL"],
  ];
  for (const [frontdesk, peer, how] of pairs) {
    const step = cellOf(result, frontdesk, "saverStep", at);
    const peerStep = cellOf(result, peer, "saverStep", at);
    if (step && peerStep) {
      checks.push({
        goal: `saver time per step at ${n(at)} messages ≤ 1/20 of SqliteSaver's (${how})`,
        met: step.medianUs * 20 <= peerStep.medianUs,
        value: `${formatMicros(step.medianUs)} vs ${formatMicros(peerStep.medianUs)} (1/${(peerStep.medianUs / step.medianUs).toFixed(1)})`,
      });
    }
    const turn = cellOf(result, frontdesk, "turn", at);
    const peerTurn = cellOf(result, peer, "turn", at);
    if (turn && peerTurn) {
      checks.push({
        goal: `StateGraph turn at ${n(at)} messages ≥ 2× faster than on SqliteSaver (${how})`,
        met: peerTurn.medianUs >= 2 * turn.medianUs,
        value: `${(peerTurn.medianUs / turn.medianUs).toFixed(2)}× (${formatMicros(turn.medianUs)} vs ${formatMicros(peerTurn.medianUs)})`,
      });
    }
  }
  return checks;
}
