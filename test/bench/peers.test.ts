/**
 * The peer benchmark's own machinery, in its tiniest mode: the plot, the section writer, the
 * settings, and Frontdesk's and the AgentDock-style rows end to end. Only parts that need the
 * repository's install are here, so nothing skips when bench/peers has no node_modules (as in
 * CI). No timing is asserted: numbers belong to the benchmark, not to a test.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { conversationSuite } from "../../bench/peers/conversation/run.ts";
import { CONVERSATION_LABELS } from "../../bench/peers/conversation/suite.ts";
import type { WorkloadResult } from "../../bench/peers/harness.ts";
import { formatBytes, formatMicros, lineChartSvg, logTicks } from "../../bench/peers/plot.ts";
import { ceilingTable, checkLine, compare, comparisonChecks, peerSection } from "../../bench/peers/report.ts";
import { peerSettings, runOptionsOf } from "../../bench/peers/suite.ts";
import { replaceSection } from "../../bench/sections.ts";

const dir = mkdtempSync(join(tmpdir(), "frontdesk-peers-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the peer benchmark's plot", () => {
  it("draws one line per store with a point per history length, on log axes", () => {
    const svg = lineChartSvg({
      title: "append <one> message",
      xLabel: "messages",
      yLabel: "cost",
      series: [
        { name: "Frontdesk", emphasis: true, points: [10, 1000, 10_000].map((x) => ({ x, y: 50 })) },
        { name: "Peer & co", points: [10, 1000, 10_000].map((x) => ({ x, y: x * 3 })) },
        { name: "nothing to show", points: [{ x: 10, y: 0 }] },
        { name: "raw driver", ceiling: true, points: [10, 10_000].map((x) => ({ x, y: 20 })) },
      ],
    });
    // The raw driver's line is the ceiling: grey and dotted, apart from the peers' dashes.
    expect(svg).toMatch(
      /<polyline fill="none" stroke="#555555" stroke-width="1.6" stroke-dasharray="2 3" points="[^"]+"><title>raw driver</,
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
    expect(svg.match(/<circle /g)).toHaveLength(8);
    expect(svg).toContain("append &lt;one&gt; message");
    expect(svg).toContain("Peer &amp; co");
    expect(svg).not.toContain("nothing to show");
    for (const label of [">10<", ">1,000<", ">10,000<", ">10 µs<", ">100 ms<"]) expect(svg).toContain(label);
    // Equal costs lie on one horizontal line: the Frontdesk polyline's points share their y.
    const frontdesk = /<polyline[^>]*stroke-width="2.5" points="([^"]+)"/.exec(svg)?.[1] ?? "";
    expect(new Set(frontdesk.split(" ").map((point) => point.split(",")[1])).size).toBe(1);
    // Every opened element is closed or self-closed.
    const opened = svg.match(/<(svg|title|text|polyline|circle)\b(?:[^>]*[^/])?>/g)?.length ?? 0;
    const closed = svg.match(/<\/(svg|title|text|polyline|circle)>/g)?.length ?? 0;
    expect(closed).toBe(opened);
  });

  it("ticks every decade, with 2× and 5× steps when the range is narrow", () => {
    expect(logTicks(1, 10_000)).toEqual([1, 10, 100, 1000, 10_000]);
    expect(logTicks(10, 1000)).toEqual([10, 20, 50, 100, 200, 500, 1000]);
    expect(formatMicros(1500)).toBe("1.5 ms");
    expect(formatMicros(100)).toBe("100 µs");
    expect(formatBytes(342_000_000)).toBe("342 MB");
    expect(formatBytes(1_200_000)).toBe("1.2 MB");
  });
});

describe("the BENCHMARKS.md section writer", () => {
  const document = [
    "<!-- bench:start -->",
    "# Benchmarks",
    "core numbers",
    "<!-- bench:end -->",
    "",
    "<!-- bench-peers:start -->",
    "old peer numbers",
    "<!-- bench-peers:end -->",
    "",
  ].join("\n");

  it("replaces only its own section and keeps the other byte for byte", () => {
    const peers = replaceSection(document, "bench-peers", "new peer numbers");
    expect(peers).toContain("new peer numbers");
    expect(peers).not.toContain("old peer numbers");
    expect(peers.slice(0, peers.indexOf("<!-- bench-peers:start -->"))).toBe(
      document.slice(0, document.indexOf("<!-- bench-peers:start -->")),
    );
    const core = replaceSection(peers, "bench", "# Benchmarks\nnew core numbers");
    expect(core).toContain("new peer numbers");
    expect(core).not.toContain("\ncore numbers");
    expect(core.slice(core.indexOf("<!-- bench-peers:start -->"))).toBe(
      peers.slice(peers.indexOf("<!-- bench-peers:start -->")),
    );
  });

  it("adds a missing section at the end, or at the start when asked", () => {
    const onlyCore = "<!-- bench:start -->\ncore\n<!-- bench:end -->\n";
    expect(replaceSection(onlyCore, "bench-peers", "peers")).toBe(
      `${onlyCore}\n<!-- bench-peers:start -->\npeers\n<!-- bench-peers:end -->\n`,
    );
    const onlyPeers = "<!-- bench-peers:start -->\npeers\n<!-- bench-peers:end -->\n";
    expect(replaceSection(onlyPeers, "bench", "core", { whenAbsent: "start" })).toBe(
      `<!-- bench:start -->\ncore\n<!-- bench:end -->\n\n${onlyPeers}`,
    );
  });
});

describe("the ceiling of a peer comparison", () => {
  const cell = (contender: string, medianUs: number) => ({
    contender,
    metric: "append",
    size: 1000,
    medianUs,
    roundsUs: [medianUs],
    calls: 1,
  });
  const result = {
    workload: { id: "w", title: "W", method: "", operations: [{ name: "append" }], contenders: [] },
    cells: [cell("peer", 2000), cell("frontdesk", 100), cell("raw", 50), cell("frontdesk fast", 60)],
    bytes: [],
    growth: {},
    notes: [],
  } satisfies WorkloadResult;
  const comparison = { label: "peer append", metric: "append", size: 1000, peer: "peer", raw: "raw", goal: 0.8 };

  it("divides Frontdesk's lead over the peer by the raw driver's, and checks the share against the goal", () => {
    const slow = compare(result, { ...comparison, frontdesk: "frontdesk" });
    expect(slow).toMatchObject({ ratio: 20, ceiling: 40, share: 0.5 });
    const fast = compare(result, { ...comparison, frontdesk: "frontdesk fast" });
    expect(fast?.share).toBeCloseTo(50 / 60);
    const checks = comparisonChecks(result, [
      { ...comparison, frontdesk: "frontdesk" },
      { ...comparison, frontdesk: "frontdesk fast" },
      { ...comparison, frontdesk: "not measured" },
    ]);
    expect(checks.map((c) => [c.met, c.value.slice(0, c.value.indexOf(" ("))])).toEqual([
      [false, "ratio 20×, ceiling 40×, share 50%"],
      [true, "ratio 33×, ceiling 40×, share 83%"],
    ]);
    const table = ceilingTable([
      { result, reference: "frontdesk", labels: {}, checks, comparisons: [{ ...comparison, frontdesk: "frontdesk" }] },
    ]);
    expect(table).toContain("| peer append | 2 ms | 100 µs | 50 µs | 20× | 40× | **50%** |");
  });
});

describe("the peer benchmark's settings", () => {
  it("runs 10, 1,000 and 10,000 messages by default, and shrinks for a quick run", () => {
    expect(peerSettings([], {}).sizes).toEqual([10, 1000, 10_000]);
    expect(peerSettings([], {}).bytesSize).toBe(1000);
    expect(peerSettings(["--quick"], {}).sizes).toEqual([10, 100]);
    expect(peerSettings([], { FRONTDESK_PEERS_SIZES: "50,5" }).sizes).toEqual([5, 50]);
    expect(() => peerSettings(["--sizes=10,x"], {})).toThrow(/integers/);
  });
});

describe("the conversation workload at its tiniest", () => {
  it("measures every operation of every Frontdesk and AgentDock-style row at each length, with bytes", async () => {
    const settings = { ...peerSettings(["--sizes=4,12"], {}), rounds: 2, roundsAtLargest: 2, warmupCalls: 2 };
    // A few hundred messages: enough to fill pages of their own on every store (a dozen fit in the
    // free space of an empty SQLite file's pages and would weigh nothing).
    const reported = await conversationSuite({
      dir,
      run: { ...runOptionsOf(settings, () => undefined), targetRoundMs: 2 },
      bytesSize: 300,
      log: () => undefined,
    });
    const contenders = reported.result.workload.contenders.map((c) => c.name);
    expect(contenders).toEqual(
      expect.arrayContaining(["Frontdesk SQLite (full)", "Frontdesk SQLite (normal)", "AgentDock-style SQLite"]),
    );
    for (const contender of contenders) {
      for (const metric of Object.keys(CONVERSATION_LABELS)) {
        for (const size of [4, 12]) {
          const cell = reported.result.cells.find(
            (c) => c.contender === contender && c.metric === metric && c.size === size,
          );
          expect(cell?.roundsUs, `${contender} ${metric} at ${size}`).toHaveLength(2);
          expect(cell?.medianUs).toBeGreaterThan(0);
        }
      }
      const bytes = reported.result.bytes.find((b) => b.contender === contender && b.size === 300)?.bytes;
      expect(bytes, `${contender} bytes`).toBeGreaterThan(0);
    }
    const markdown = peerSection({ workloads: [reported], header: ["tiny run"], markdownDir: dir });
    for (const contender of contenders) expect(markdown).toContain(`| ${contender} |`);
    expect(markdown).toContain("| **Frontdesk SQLite (full)** |");
    expect(checkLine({ goal: "a goal", met: false, value: "2×" })).toBe("- FAIL a goal: 2×");
  });
});
