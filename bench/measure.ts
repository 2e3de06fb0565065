import { performance } from "node:perf_hooks";

export interface Measurement {
  name: string;
  opsPerSec?: number;
  meanUs?: number;
  /** Frontdesk ÷ raw driver throughput (higher is better). */
  ratio?: number;
  /** This cost ÷ a baseline cost (lower is better). */
  costRatio?: number;
  p50Ms?: number;
  p99Ms?: number;
  note?: string;
}

export interface Section {
  title: string;
  method: string;
  rows: Measurement[];
  /** Targets checked in this run: a line each, with whether it held. */
  checks?: { goal: string; met: boolean; value: string }[];
}

/** Runs `op` sequentially `count` times after a 10% warm-up; wall-clock throughput and mean latency. */
export async function measure(count: number, op: () => unknown): Promise<{ opsPerSec: number; meanUs: number }> {
  const warmup = Math.max(10, Math.floor(count / 10));
  for (let i = 0; i < warmup; i++) await op();
  const start = performance.now();
  for (let i = 0; i < count; i++) await op();
  const elapsedMs = performance.now() - start;
  return { opsPerSec: (count / elapsedMs) * 1000, meanUs: (elapsedMs * 1000) / count };
}

export const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);

/**
 * Measures several operations in alternating rounds and keeps each one's median round, so a
 * change of load on the machine during the run moves every contender alike instead of skewing a
 * ratio.
 */
export async function interleaved(
  ops: Record<string, () => unknown>,
  { rounds = 7, perRound = 300 }: { rounds?: number; perRound?: number } = {},
): Promise<Record<string, { opsPerSec: number; meanUs: number; roundsUs: number[] }>> {
  const samples: Record<string, number[]> = {};
  for (const [name, op] of Object.entries(ops)) {
    samples[name] = [];
    for (let i = 0; i < Math.max(10, perRound / 10); i++) await op();
  }
  for (let round = 0; round < rounds; round++) {
    for (const [name, op] of Object.entries(ops)) {
      const start = performance.now();
      for (let i = 0; i < perRound; i++) await op();
      samples[name]?.push(((performance.now() - start) * 1000) / perRound);
    }
  }
  const out: Record<string, { opsPerSec: number; meanUs: number; roundsUs: number[] }> = {};
  for (const [name, values] of Object.entries(samples)) {
    const meanUs = percentile(
      [...values].sort((a, b) => a - b),
      50,
    );
    out[name] = { meanUs, opsPerSec: 1e6 / meanUs, roundsUs: values };
  }
  return out;
}

/**
 * What `extra` costs over `base` per operation, from rounds that ran back to back: the median of
 * the per-round differences, so drift that moves both alike (load, GC, the heap growing) cancels
 * within each pair instead of skewing a difference of two medians taken from different rounds.
 */
export function pairedDifferenceUs(extra: { roundsUs: number[] }, base: { roundsUs: number[] }): number {
  const differences = extra.roundsUs.map((us, round) => us - (base.roundsUs[round] ?? Number.NaN));
  return percentile(
    differences.sort((a, b) => a - b),
    50,
  );
}
