/**
 * What every suite of the peer benchmark receives, and the run's settings: history lengths,
 * rounds, and how long a round should take. `--quick` (or FRONTDESK_PEERS_SIZES) shrinks a run.
 */
import type { RunOptions } from "./harness.ts";
import type { ReportedWorkload } from "./report.ts";

export interface SuiteContext {
  /** Scratch folder for SQLite files, removed at exit. */
  dir: string;
  run: RunOptions;
  /** The history length the byte goals are stated at (1,000 messages, fewer in a quick run). */
  bytesSize: number;
  log(line: string): void;
}

export type Suite = (context: SuiteContext) => Promise<ReportedWorkload>;

export interface PeerSettings {
  sizes: number[];
  quick: boolean;
  bytesSize: number;
  rounds: number;
  roundsAtLargest: number;
  targetRoundMs: number;
  warmupCalls: number;
}

/** The run's settings from the command line and environment. */
export function peerSettings(argv: readonly string[], env: NodeJS.ProcessEnv): PeerSettings {
  const quick = argv.includes("--quick");
  const sizesFlag = argv.find((a) => a.startsWith("--sizes="))?.slice("--sizes=".length) ?? env.FRONTDESK_PEERS_SIZES;
  const sizes = sizesFlag
    ? sizesFlag.split(",").map((s) => Number.parseInt(s, 10))
    : quick
      ? [10, 100]
      : [10, 1000, 10_000];
  if (sizes.length === 0 || sizes.some((s) => !Number.isInteger(s) || s < 2)) {
    throw new Error(`history lengths must be integers ≥ 2, got "${sizesFlag}"`);
  }
  sizes.sort((a, b) => a - b);
  return {
    sizes,
    quick,
    bytesSize: quick || sizesFlag ? Math.min(1000, Math.max(...sizes)) : 1000,
    rounds: quick ? 3 : 7,
    roundsAtLargest: quick ? 3 : 5,
    targetRoundMs: quick ? 20 : 60,
    warmupCalls: quick ? 20 : 300,
  };
}

export function runOptionsOf(settings: PeerSettings, log: (line: string) => void): RunOptions {
  const largest = Math.max(...settings.sizes);
  return {
    sizes: settings.sizes,
    roundsAt: (size) => (size >= 10_000 && size === largest ? settings.roundsAtLargest : settings.rounds),
    targetRoundMs: settings.targetRoundMs,
    warmupCalls: settings.warmupCalls,
    log,
  };
}
