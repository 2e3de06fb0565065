/**
 * `npm run bench`: measures Frontdesk against the raw drivers in one run and writes BENCHMARKS.md.
 * Not a test: numbers depend on the machine; the ratios are what the goals are stated in.
 */
import { arch, cpus, loadavg, totalmem } from "node:os";
import { resolve } from "node:path";
import { benchAgent } from "./agent.ts";
import { benchHttp } from "./http.ts";
import { benchInstructions } from "./instructions.ts";
import { benchMcp } from "./mcp.ts";
import type { Measurement, Section } from "./measure.ts";
import { benchMillion } from "./million.ts";
import { benchPrivacy } from "./privacy.ts";
import { benchScaling } from "./scaling.ts";
import { writeSection } from "./sections.ts";
import { benchStores } from "./stores.ts";

const fmt = (value: number | undefined, digits = 0): string =>
  value === undefined || Number.isNaN(value)
    ? ""
    : value.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });

const table = (rows: Measurement[]): string => {
  const lines = [
    "| measurement | ops/s | mean µs | ratio to raw | cost ratio | p50 ms | p99 ms | note |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${fmt(r.opsPerSec)} | ${fmt(r.meanUs, 1)} | ${fmt(r.ratio, 2)} | ${fmt(r.costRatio, 2)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${r.note ?? ""} |`,
    );
  }
  return lines.join("\n");
};

const sections: Section[] = [];
const only = process.argv.slice(2);
const wanted = (name: string) => only.length === 0 || only.includes(name);
// Parts too long for every run: only when named, as in `npm run bench million`.
const named = (name: string) => only.includes(name);

/** The parts of the main section, in the order they run: it records one run of all of them. */
const MAIN_PARTS: Record<string, () => Promise<Section[]>> = {
  stores: async () => withStoreChecks(await benchStores()),
  http: benchHttp,
  mcp: benchMcp,
  agent: benchAgent,
  instructions: benchInstructions,
};
for (const [part, bench] of Object.entries(MAIN_PARTS)) if (wanted(part)) sections.push(...(await bench()));
// Issue 19's numbers take minutes, so they keep a section of their own: `npm run bench privacy`
// rewrites only that one, and a run without it leaves the privacy numbers as they were.
const privacyLoad = loadavg()[0] ?? 0;
const privacy = wanted("privacy") ? await benchPrivacy() : [];
// docs/scaling.md's inputs: the same arrangement as privacy, in `bench-scaling`.
const scalingLoad = loadavg()[0] ?? 0;
const scaling = wanted("scaling") ? await benchScaling() : [];
// Issue 21 §3: builds (or reuses) a million-session store, minutes on first run.
const millionLoad = loadavg()[0] ?? 0;
const million = named("million") ? await benchMillion() : [];

function withStoreChecks(found: Section[]): Section[] {
  const rows = found.flatMap((s) => s.rows);
  const checks: NonNullable<Section["checks"]> = [];
  for (const name of ["sqlite (full)", "sqlite (normal)", "redis", "postgres"]) {
    const append = rows.find((r) => r.name === `${name}: append`);
    if (append?.ratio !== undefined) {
      const goal = 0.5;
      checks.push({
        goal: `${name} append ≥ ${goal * 100}% of the raw driver`,
        met: append.ratio >= goal,
        value: `${fmt(append.ratio * 100)}%`,
      });
    }
    const at100k = rows.find((r) => r.name === `${name}: append at 100,000 events`);
    if (at100k?.costRatio !== undefined) {
      const limit = name.startsWith("sqlite") ? 1.2 : 1.3;
      checks.push({
        goal: `${name} append at 100,000 events ≤ ${limit}× append at 10`,
        met: at100k.costRatio <= limit,
        value: `${fmt(at100k.costRatio, 2)}×`,
      });
    }
  }
  const many = (d: string) => rows.find((r) => r.name === `sqlite (${d}): 32 appenders on 32 sessions`)?.opsPerSec;
  const [full, normal] = [many("full"), many("normal")];
  if (full !== undefined && normal !== undefined) {
    checks.push({
      goal: "32-session appends at full ≥ 90% of normal",
      met: full >= 0.9 * normal,
      value: `${fmt((full / normal) * 100)}%`,
    });
  }
  const last = found.at(-1);
  if (last) last.checks = checks;
  return found;
}

/** What the main sections ran with; the privacy section states its own (it measures masking and encryption). */
const BENCH_SETTINGS =
  "secret masking off and no encryption on every store and server (the defaults: `maskSecrets` unset, no " +
  "encryption key); the library rows' sessions have no TTL (`defaultTtlMs: null`), the HTTP rows' the server's " +
  "default sliding TTL of 30 minutes, with its request-rate limit off; SQLite in WAL at " +
  "the durability its row names (`full` is the default), PostgreSQL with `synchronous_commit` as the server sets it " +
  "(on), Redis with the server's own persistence settings (`appendonly no` on this machine).";

const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${arch()}, Node ${process.version}`;
const measuredOn = `${new Date().toISOString().slice(0, 10)}, on ${machine}`;

const render = (found: Section[], heading: string): string[] =>
  found.flatMap((s) => [
    `${heading} ${s.title}`,
    "",
    `How: ${s.method}`,
    "",
    ...(s.rows.length > 0 ? [table(s.rows), ""] : []),
    ...(s.checks && s.checks.length > 0
      ? ["Goals checked in this run:", "", ...s.checks.map((c) => `- ${c.met ? "✅" : "❌"} ${c.goal}: ${c.value}`), ""]
      : []),
  ]);

const file = resolve(import.meta.dirname, "../BENCHMARKS.md");
// Only the sections that ran: the peer benchmark (`npm run bench:peers`) keeps its own below, and
// `npm run bench privacy` alone must not blank the main numbers, and neither may a run of some of
// the main parts: the main section is one run of all five, so `npm run bench stores` prints its
// numbers without recording them in place of the other four's.
const mainParts = Object.keys(MAIN_PARTS);
const leftOut = mainParts.filter((part) => !wanted(part));
if (sections.length > 0 && leftOut.length > 0) {
  process.stdout.write(render(sections, "##").join("\n"));
  process.stderr.write(
    `\nBENCHMARKS.md keeps its main section: it records one run of ${mainParts.join(", ")}, and this run left out ${leftOut.join(", ")}. Name them all to record.\n`,
  );
} else if (sections.length > 0) {
  const body = [
    "# Benchmarks",
    "",
    `Measured by \`npm run bench\` on ${measuredOn}.`,
    "Every ratio compares numbers taken in the same run on the same machine; absolute numbers vary between machines, ratios much less.",
    "Run it again with `npm run bench` (set `FRONTDESK_TEST_REDIS_URL` / `FRONTDESK_TEST_POSTGRES_URL` to include the shared stores).",
    "",
    `Settings: ${BENCH_SETTINGS}`,
    "",
    ...render(sections, "##"),
  ].join("\n");
  writeSection(file, "bench", body, { whenAbsent: "start" });
  process.stdout.write(body);
}
/** A part that keeps a section of its own, rewritten only by a run that includes the part. */
function writeOwnSection(id: string, title: string, part: string, load: number, found: Section[]): void {
  if (found.length === 0) return;
  const body = [
    `## ${title}`,
    "",
    `Measured by \`npm run bench ${part}\` on ${measuredOn} (load average ${load.toFixed(1)} as it began), with the same caveats as above.`,
    "Set `FRONTDESK_TEST_REDIS_URL` / `FRONTDESK_TEST_POSTGRES_URL` to include the shared stores.",
    "",
    ...render(found, "###"),
  ].join("\n");
  writeSection(file, id, body, { whenAbsent: "end" });
  process.stdout.write(body);
}
writeOwnSection("bench-privacy", "Privacy: erasure, pruning, masking", "privacy", privacyLoad, privacy);
writeOwnSection(
  "bench-scaling",
  "Scaling: per node, per process, bytes (the inputs of docs/scaling.md)",
  "scaling",
  scalingLoad,
  scaling,
);
writeOwnSection("bench-million", "A million sessions (SQLite and PostgreSQL)", "million", millionLoad, million);
