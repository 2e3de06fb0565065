/**
 * `npm run bench:peers`: Frontdesk beside the frameworks' own stores, on the same workloads, in
 * one run, and the peer section of BENCHMARKS.md with one SVG plot per operation.
 *
 *   npm run bench:peers                         all suites at 10, 1,000 and 10,000 messages
 *   npm run bench:peers -- --quick              10 and 100 messages, fewer rounds
 *   npm run bench:peers -- --only=langgraph,adk one or more suites
 *   npm run bench:peers -- --no-write           print only
 *   FRONTDESK_PEERS_SIZES=10,1000               other history lengths
 *
 * The peers come from bench/peers/node_modules (`npm install` in bench/peers); the frameworks
 * themselves from the repository's node_modules, one copy each (printed at start).
 */
import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { arch, cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { writeSection } from "../sections.ts";
import { POSTGRES_URL, REDIS_URL, scratchDir } from "./backends.ts";
import { conversationSuite } from "./conversation/run.ts";
import { checkLine, peerSection, type ReportedWorkload } from "./report.ts";
import { peerSettings, runOptionsOf, type Suite, type SuiteContext } from "./suite.ts";

const SUITES: Record<string, () => Promise<Suite>> = {
  conversation: async () => conversationSuite,
  langgraph: async () => (await import("./langgraph/suite.ts")).langgraphSuite,
  adk: async () => (await import("./adk/suite.ts")).adkSuite,
  "openai-agents": async () => (await import("./openai-agents/suite.ts")).openAiAgentsSuite,
  mastra: async () => (await import("./mastra/suite.ts")).mastraSuite,
};

const argv = process.argv.slice(2);
const settings = peerSettings(argv, process.env);
const only = argv
  .find((a) => a.startsWith("--only="))
  ?.slice("--only=".length)
  .split(",");
const write = !argv.includes("--no-write");
const log = (line: string) => process.stderr.write(`${line}\n`);

printResolvedFrameworks();
const context: SuiteContext = {
  dir: scratchDir(),
  run: runOptionsOf(settings, log),
  bytesSize: settings.bytesSize,
  log,
};

const reported: ReportedWorkload[] = [];
for (const [name, load] of Object.entries(SUITES)) {
  if (only && !only.includes(name)) continue;
  log(`suite ${name}`);
  reported.push(await (await load())(context));
}

const root = resolve(import.meta.dirname, "../..");
const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${arch()}, Node ${process.version}`;
const header = [
  `Measured by \`npm run bench:peers\` on ${new Date().toISOString().slice(0, 10)}, on ${machine}` +
    `${settings.quick ? " (quick run)" : ""}. Every number in this section comes from one run.`,
  `History lengths: ${settings.sizes.map((s) => s.toLocaleString("en")).join(", ")} messages. Stores run in alternating ` +
    `rounds (${settings.rounds} per length, ${settings.roundsAtLargest} at 10,000) after an untimed warm-up; a cell is ` +
    "the median round's cost per call, and (n×) is that cost divided by the **bold** Frontdesk row's at the same length.",
  `Shared stores: ${REDIS_URL ? "Redis" : "no Redis (FRONTDESK_TEST_REDIS_URL unset)"}, ${POSTGRES_URL ? "PostgreSQL" : "no PostgreSQL (FRONTDESK_TEST_POSTGRES_URL unset)"}, both local. ` +
    "No masking or encryption is configured on any Frontdesk store in this run.",
];
// A partial run writes neither the section nor its plots: plots of this run beside the table of
// another would disagree with it.
const whole = write && !only;
const body = peerSection({
  workloads: reported,
  header,
  plotDir: whole ? resolve(root, "docs/bench/peers") : undefined,
  markdownDir: root,
});
process.stdout.write(`${body}\n`);
for (const check of reported.flatMap((r) => r.checks)) process.stdout.write(`${checkLine(check)}\n`);
if (whole) writeSection(resolve(root, "BENCHMARKS.md"), "bench-peers", body, { whenAbsent: "end" });
else if (write)
  log("--only: BENCHMARKS.md and its plots left as they are (a partial run would drop the other suites' rows)");
process.exit(0);

/**
 * Prints where each framework resolves from (from the repository, from bench/peers, and from each
 * peer store), once, and stops when any resolves to two copies.
 */
function printResolvedFrameworks(): void {
  const fromRepo = createRequire(resolve(import.meta.dirname, "../../package.json"));
  const fromPeers = createRequire(resolve(import.meta.dirname, "package.json"));
  const peerStores = [
    "@langchain/langgraph-checkpoint-sqlite",
    "@langchain/langgraph-checkpoint-postgres",
    "@mikro-orm/sqlite",
    "@mikro-orm/postgresql",
    "@mastra/libsql",
    "@mastra/pg",
  ];
  const frameworks = [
    "@langchain/core",
    "@langchain/langgraph",
    "@langchain/langgraph-checkpoint",
    "@google/adk",
    "@openai/agents-core",
    "@mikro-orm/core",
    "@mastra/core",
  ];
  for (const name of frameworks) {
    const requirers = [fromRepo, fromPeers, ...peerStores.map((store) => requirerOf(fromPeers, store))];
    const found = new Set(requirers.flatMap((from) => (from ? [packageDir(from, name)] : [])).filter(Boolean));
    log(`${found.size === 1 ? "one copy" : "COPIES  "} ${name}: ${[...found].join(" | ") || "(not found)"}`);
    if (found.size > 1) throw new Error(`${name} resolves to ${found.size} copies; see bench/peers/.npmrc`);
  }
  const adk = requirerOf(fromRepo, "@google/adk");
  for (const driver of ["@mikro-orm/sqlite", "@mikro-orm/postgresql"]) {
    log(
      `@google/adk loads ${driver} from ${(adk && packageDir(adk, driver)) || "(not found: set NODE_PATH=bench/peers/node_modules)"}`,
    );
  }
}

/** The real folder of a package as `from` resolves it, or "" when it does not. */
function packageDir(from: NodeJS.Require, name: string): string {
  let entry: string;
  try {
    entry = from.resolve(name);
  } catch {
    try {
      entry = from.resolve(`${name}/package.json`);
    } catch {
      return "";
    }
  }
  const real = realpathSync(entry);
  const marker = `/node_modules/${name}/`;
  const at = real.lastIndexOf(marker);
  return at === -1 ? dirname(real) : real.slice(0, at + marker.length - 1);
}

function requirerOf(from: NodeJS.Require, name: string): NodeJS.Require | undefined {
  const dir = packageDir(from, name);
  return dir ? createRequire(join(dir, "package.json")) : undefined;
}
