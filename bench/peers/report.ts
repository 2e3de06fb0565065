/**
 * Turns workload results into the peer section of BENCHMARKS.md: per operation a table of median
 * costs with each peer's multiple of Frontdesk's, bytes per conversation, the goals checked in the
 * run, the settings that differ between stores, and one SVG plot per operation.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { bytesOf, cellOf, type WorkloadResult } from "./harness.ts";
import { formatBytes, formatMicros, lineChartSvg } from "./plot.ts";

/** A goal checked in the run, printed PASS/FAIL with the measured value. */
export interface Check {
  goal: string;
  met: boolean;
  value: string;
}

/** What the report needs beyond the numbers: which row is the reference, and the goals. */
export interface ReportedWorkload {
  result: WorkloadResult;
  /** The Frontdesk row that peers are divided by. */
  reference: string;
  /** Labels of operations and derived metrics, e.g. `append: "append one message"`. */
  labels: Record<string, string>;
  checks: Check[];
  notes?: string[];
  /** Peer comparisons held against the raw driver's ceiling (see raw.ts). */
  comparisons?: Comparison[];
}

/**
 * One comparison the peer goals name: Frontdesk's lead over a peer (ratio = peer ÷ Frontdesk),
 * the raw driver's lead over the same peer on the same durability (ceiling = peer ÷ raw), and
 * Frontdesk's share of that ceiling (ratio ÷ ceiling, which is raw ÷ Frontdesk).
 */
export interface Comparison {
  label: string;
  metric: string;
  size: number;
  peer: string;
  frontdesk: string;
  raw: string;
  /** The share the goal asks for, e.g. 0.8. */
  goal: number;
}

/** A comparison's numbers, when all three rows were measured in the run. */
export interface ComparisonResult {
  comparison: Comparison;
  peerUs: number;
  frontdeskUs: number;
  rawUs: number;
  ratio: number;
  ceiling: number;
  share: number;
}

export function compare(result: WorkloadResult, comparison: Comparison): ComparisonResult | undefined {
  const at = (contender: string) => cellOf(result, contender, comparison.metric, comparison.size)?.medianUs;
  const peerUs = at(comparison.peer);
  const frontdeskUs = at(comparison.frontdesk);
  const rawUs = at(comparison.raw);
  if (peerUs === undefined || frontdeskUs === undefined || rawUs === undefined) return undefined;
  const ratio = peerUs / frontdeskUs;
  const ceiling = peerUs / rawUs;
  return { comparison, peerUs, frontdeskUs, rawUs, ratio, ceiling, share: ratio / ceiling };
}

const percent = (share: number) => `${Math.round(share * 100)}%`;

/** The goal lines of a workload's comparisons: one PASS/FAIL per comparison measured. */
export function comparisonChecks(result: WorkloadResult, comparisons: readonly Comparison[]): Check[] {
  return comparisons.flatMap((comparison) => {
    const measured = compare(result, comparison);
    if (!measured) return [];
    return [
      {
        goal: `${comparison.label}: Frontdesk reaches ≥ ${percent(comparison.goal)} of the raw driver's ceiling`,
        met: measured.share >= comparison.goal,
        value:
          `ratio ${multiple(measured.ratio)}, ceiling ${multiple(measured.ceiling)}, share ${percent(measured.share)} ` +
          `(${comparison.peer} ${formatMicros(measured.peerUs)}, ${comparison.frontdesk} ${formatMicros(measured.frontdeskUs)}, ` +
          `${comparison.raw} ${formatMicros(measured.rawUs)})`,
      },
    ];
  });
}

/** The ceiling table: a row per comparison of every workload, with the three costs and what they make. */
export function ceilingTable(workloads: readonly ReportedWorkload[]): string | undefined {
  const rows = workloads.flatMap((reported) =>
    (reported.comparisons ?? []).flatMap((c) => {
      const measured = compare(reported.result, c);
      return measured ? [measured] : [];
    }),
  );
  if (rows.length === 0) return undefined;
  return [
    "| comparison | peer | Frontdesk | raw driver | ratio (peer ÷ Frontdesk) | ceiling (peer ÷ raw) | share of ceiling |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.comparison.label} | ${formatMicros(r.peerUs)} | ${formatMicros(r.frontdeskUs)} | ${formatMicros(r.rawUs)} | ` +
        `${multiple(r.ratio)} | ${multiple(r.ceiling)} | ${r.share >= r.comparison.goal ? "" : "**"}${percent(r.share)}${r.share >= r.comparison.goal ? "" : "**"} |`,
    ),
  ].join("\n");
}

const count = (n: number) => n.toLocaleString("en");

/** A cost divided by the reference row's: two significant digits below 10, whole numbers above. */
const multiple = (value: number): string =>
  value >= 100
    ? `${Math.round(value).toLocaleString("en")}×`
    : value >= 10
      ? `${value.toFixed(0)}×`
      : `${Number(value.toPrecision(2))}×`;

/** Every metric a workload measured, in the order it declared them. */
const metricsOf = (result: WorkloadResult): string[] => [
  ...result.workload.operations.map((o) => o.name),
  ...(result.workload.derived ?? []).map((d) => d.name),
];

const sizesOf = (result: WorkloadResult): number[] =>
  [...new Set(result.cells.map((c) => c.size))].sort((a, b) => a - b);

/** The cost table of one metric: a row per store, a column per history length. */
export function costTable(reported: ReportedWorkload, metric: string): string {
  const { result, reference } = reported;
  const sizes = sizesOf(result);
  const lines = [
    `| store | ${sizes.map((s) => `at ${count(s)}`).join(" | ")} |`,
    `|---|${sizes.map(() => "---:").join("|")}|`,
  ];
  for (const contender of result.workload.contenders) {
    const cells = sizes.map((size) => {
      const cell = cellOf(result, contender.name, metric, size);
      if (!cell) return "";
      const base = cellOf(result, reference, metric, size);
      const ratio = base && contender.name !== reference ? ` (${multiple(cell.medianUs / base.medianUs)})` : "";
      return `${formatMicros(cell.medianUs)}${ratio}`;
    });
    if (cells.every((c) => c === "")) continue;
    const name = contender.name === reference ? `**${contender.name}**` : contender.name;
    lines.push(`| ${name} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

/** Bytes per conversation: a row per store, a column per measured length, the multiple of Frontdesk's. */
export function bytesTable(reported: ReportedWorkload): string | undefined {
  const { result, reference } = reported;
  const sizes = [...new Set(result.bytes.map((b) => b.size))].sort((a, b) => a - b);
  if (sizes.length === 0) return undefined;
  const lines = [
    `| store | ${sizes.map((s) => `${count(s)} messages`).join(" | ")} |`,
    `|---|${sizes.map(() => "---:").join("|")}|`,
  ];
  for (const contender of result.workload.contenders) {
    const cells = sizes.map((size) => {
      const bytes = bytesOf(result, contender.name, size);
      if (bytes === undefined) return "";
      const base = bytesOf(result, reference, size);
      const ratio = base && contender.name !== reference ? ` (${multiple(bytes / base)})` : "";
      return `${formatBytes(bytes)}${ratio}`;
    });
    if (cells.every((c) => c === "")) continue;
    lines.push(`| ${contender.name === reference ? `**${contender.name}**` : contender.name} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

/** Writes one SVG per metric into `plotDir`; returns the Markdown image lines, relative to `markdownDir`. */
export function writePlots(reported: ReportedWorkload, plotDir: string, markdownDir: string): Map<string, string> {
  mkdirSync(plotDir, { recursive: true });
  const images = new Map<string, string>();
  const { result } = reported;
  for (const metric of metricsOf(result)) {
    const series = result.workload.contenders
      .map((contender) => ({
        name: contender.name,
        emphasis: contender.frontdesk === true,
        ceiling: contender.raw === true,
        points: result.cells
          .filter((c) => c.contender === contender.name && c.metric === metric)
          .map((c) => ({ x: c.size, y: c.medianUs })),
      }))
      .filter((s) => s.points.length > 0);
    if (series.length === 0) continue;
    const label = reported.labels[metric] ?? metric;
    const file = join(plotDir, `${result.workload.id}-${metric.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}.svg`);
    writeFileSync(
      file,
      lineChartSvg({
        title: `${result.workload.title}: ${label}`,
        xLabel: "messages in the conversation",
        yLabel: "median cost per call",
        series,
      }),
    );
    images.set(metric, `![${result.workload.title}: ${label}](${relative(markdownDir, file).split("\\").join("/")})`);
  }
  return images;
}

export interface SectionInput {
  workloads: ReportedWorkload[];
  header: string[];
  /** Where the SVG plots go; without it no plot is written or embedded. */
  plotDir?: string;
  markdownDir: string;
}

/** The whole peer section, as Markdown. */
export function peerSection(input: SectionInput): string {
  const out: string[] = ["## Measured against the peers", "", ...input.header, ""];
  const ceiling = ceilingTable(input.workloads);
  if (ceiling) {
    out.push(
      "### Against the raw driver's ceiling",
      "",
      "Each comparison's ceiling is the raw driver's own lead over the peer, measured in the same alternating rounds " +
        "on the peer's durability, where an append is one transaction of two writes (INSERT the message, UPDATE the " +
        "session); the share is Frontdesk's lead divided by it, which is raw ÷ Frontdesk. Bold: below the goal of 80%.",
      "",
      ceiling,
      "",
    );
  }
  const checks = input.workloads.flatMap((w) => w.checks);
  if (checks.length > 0) {
    out.push("Goals checked in this run:", "", ...checks.map(checkLine), "");
  }
  for (const reported of input.workloads) {
    const { result } = reported;
    out.push(`### ${result.workload.title}`, "", `How: ${result.workload.method}`, "");
    const growth = Object.entries(result.growth).filter(([, n]) => n > 0);
    if (growth.length > 0) {
      out.push(
        `Appends during the measurement grow each history by at most ${growth.map(([size, n]) => `${count(n)} messages at ${count(Number(size))}`).join(", ")}.`,
        "",
      );
    }
    for (const note of [...result.notes, ...(reported.notes ?? [])]) out.push(note, "");
    const images = input.plotDir ? writePlots(reported, input.plotDir, input.markdownDir) : new Map<string, string>();
    for (const metric of metricsOf(result)) {
      if (!result.cells.some((c) => c.metric === metric)) continue;
      out.push(`#### ${reported.labels[metric] ?? metric}`, "", costTable(reported, metric), "");
      const image = images.get(metric);
      if (image) out.push(image, "");
    }
    const bytes = bytesTable(reported);
    if (bytes) out.push("#### Bytes stored per conversation", "", bytes, "");
    out.push("Settings:", "", "| store | settings |", "|---|---|");
    for (const contender of result.workload.contenders) out.push(`| ${contender.name} | ${contender.settings} |`);
    out.push("");
  }
  return out.join("\n");
}

export const checkLine = (check: Check): string => `- ${check.met ? "PASS" : "FAIL"} ${check.goal}: ${check.value}`;
