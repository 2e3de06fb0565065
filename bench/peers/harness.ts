/**
 * The peer benchmark's measuring core: every store in a workload runs the same operations on a
 * conversation of the same length, in alternating rounds within one run (A B A B …, the order
 * reversed every other round), and each keeps its median round. Load that changes during the run
 * (two cores shared with other work) then moves every contender alike instead of skewing a ratio.
 *
 * A workload knows nothing about frameworks: a contender is anything that can build a
 * conversation of `size` messages and run the named operations on it.
 */
import { performance } from "node:perf_hooks";
import { percentile } from "../measure.ts";

/** Additive counters an operation may report for one call, such as the saver's own time. */
export type Counters = Record<string, number>;

/** One operation on one conversation; may return counters that derived metrics divide. */
export type Operation = () => Promise<Counters | undefined | unknown>;

/** A conversation of a given length in one store, ready to be measured. */
export interface Subject {
  readonly ops: Readonly<Record<string, Operation>>;
}

/** One store (or one framework store over a backend) taking part in a workload. */
export interface Contender {
  /** The row and line label, e.g. "LangGraph SqliteSaver". */
  readonly name: string;
  /** What differs from the other contenders: durability, pool size, channel type. */
  readonly settings: string;
  /** Frontdesk's own rows are marked so ratios read "peer ÷ Frontdesk". */
  readonly frontdesk?: boolean;
  /** The raw driver rows (raw.ts): the ceiling, drawn apart in the plots. */
  readonly raw?: boolean;
  /** A conversation of `size` messages, built through the fastest path the store itself offers. */
  open(size: number): Promise<Subject>;
  /**
   * Bytes one conversation of `size` messages takes: built the way the store's users build it, alone
   * in a fresh database (file, schema or key prefix), minus that database's size when empty.
   */
  bytes?(size: number): Promise<number>;
  close(): Promise<void>;
}

/** An operation's measured cost, and how it changes the conversation it runs on. */
export interface OperationSpec {
  name: string;
  /** Messages one call adds, so the harness can bound how far a history grows while it is measured. */
  addsMessages?: number;
}

/** A metric computed from the counters an operation reported, per round: e.g. saver µs per step. */
export interface DerivedMetric {
  name: string;
  from: string;
  value(counters: Counters, calls: number): number;
}

export interface Workload {
  id: string;
  title: string;
  /** What the rows measure, for the report. */
  method: string;
  operations: OperationSpec[];
  derived?: DerivedMetric[];
  contenders: Contender[];
  /** Sizes at which each contender's `bytes` is measured. */
  bytesAt?: number[];
}

export interface RunOptions {
  sizes: number[];
  /** Rounds at a size; fewer at the largest sizes keeps quadratic peers within the run's budget. */
  roundsAt(size: number): number;
  /** Wall time one contender's operation should take per round; calls per round follow from it. */
  targetRoundMs: number;
  /** Untimed calls per operation on a scratch conversation, so JIT warm-up is not measured. */
  warmupCalls: number;
  log?(line: string): void;
}

/** The median per-call cost of one operation (or derived metric) of one contender at one size. */
export interface Cell {
  contender: string;
  metric: string;
  size: number;
  medianUs: number;
  roundsUs: number[];
  calls: number;
}

export interface WorkloadResult {
  workload: Workload;
  cells: Cell[];
  /** Bytes of each contender's conversation, per size. */
  bytes: { contender: string; size: number; bytes: number }[];
  /** How far a measured history could grow beyond its nominal size, per size. */
  growth: Record<number, number>;
  notes: string[];
}

const median = (values: number[]): number =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

const asCounters = (value: unknown): Counters | undefined =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Counters) : undefined;

/**
 * Calls per round for a mutating operation: the history may grow by at most a tenth of its size
 * (at least 20 messages) over all rounds, so "at 1,000 messages" stays true while it is measured.
 */
export function growthBudget(size: number): number {
  return Math.max(20, Math.floor(size / 10));
}

export async function runWorkload(workload: Workload, options: RunOptions): Promise<WorkloadResult> {
  const log = options.log ?? (() => undefined);
  const cells: Cell[] = [];
  const bytes: WorkloadResult["bytes"] = [];
  const growth: Record<number, number> = {};
  const notes: string[] = [];
  const contenders = workload.contenders;

  for (const size of workload.bytesAt ?? []) {
    for (const contender of contenders) {
      if (!contender.bytes) continue;
      const started = performance.now();
      bytes.push({ contender: contender.name, size, bytes: await contender.bytes(size) });
      log(`  ${workload.id}: bytes of ${contender.name} at ${size} (${Math.round(performance.now() - started)} ms)`);
    }
  }

  for (const contender of contenders) {
    const scratch = await contender.open(Math.min(10, Math.min(...options.sizes)));
    for (const spec of workload.operations) {
      const op = scratch.ops[spec.name];
      if (!op) continue;
      const deadline = performance.now() + 500;
      for (let i = 0; i < options.warmupCalls && performance.now() < deadline; i++) await op();
    }
  }

  for (const size of options.sizes) {
    const rounds = options.roundsAt(size);
    const subjects: Subject[] = [];
    for (const contender of contenders) {
      const started = performance.now();
      const subject = await contender.open(size);
      subjects.push(subject);
      log(`  ${workload.id}: ${contender.name} holds ${size} messages (${Math.round(performance.now() - started)} ms)`);
    }

    // Calls per round come from one timed probe call each, capped for operations that grow history.
    const callsPerRound = new Map<string, number>();
    let maxGrowth = 0;
    for (const [i, subject] of subjects.entries()) {
      for (const spec of workload.operations) {
        const op = subject.ops[spec.name];
        if (!op) continue;
        const started = performance.now();
        await op();
        const probeMs = Math.max(0.001, performance.now() - started);
        let calls = Math.max(1, Math.min(2000, Math.round(options.targetRoundMs / probeMs)));
        if (spec.addsMessages) {
          calls = Math.min(calls, Math.max(1, Math.floor(growthBudget(size) / spec.addsMessages / rounds)));
          maxGrowth = Math.max(maxGrowth, (calls * rounds + 1) * spec.addsMessages);
        }
        callsPerRound.set(`${i}\u0000${spec.name}`, calls);
      }
    }
    growth[size] = maxGrowth;

    const samples = new Map<string, number[]>();
    const push = (key: string, value: number) => {
      const list = samples.get(key) ?? [];
      list.push(value);
      samples.set(key, list);
    };
    for (let round = 0; round < rounds; round++) {
      const order = subjects.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) {
        const subject = subjects[i] as Subject;
        for (const spec of workload.operations) {
          const op = subject.ops[spec.name];
          if (!op) continue;
          const calls = callsPerRound.get(`${i}\u0000${spec.name}`) ?? 1;
          const counters: Counters = {};
          const started = performance.now();
          for (let call = 0; call < calls; call++) {
            const reported = asCounters(await op());
            if (reported)
              for (const [name, value] of Object.entries(reported)) counters[name] = (counters[name] ?? 0) + value;
          }
          push(`${i}\u0000${spec.name}`, ((performance.now() - started) * 1000) / calls);
          for (const metric of workload.derived ?? []) {
            if (metric.from === spec.name) push(`${i}\u0000${metric.name}`, metric.value(counters, calls));
          }
        }
      }
    }
    for (const [i, contender] of contenders.entries()) {
      const metrics = [...workload.operations.map((s) => s.name), ...(workload.derived ?? []).map((d) => d.name)];
      for (const metric of metrics) {
        const roundsUs = samples.get(`${i}\u0000${metric}`);
        if (!roundsUs) continue;
        const from = workload.derived?.find((d) => d.name === metric)?.from ?? metric;
        cells.push({
          contender: contender.name,
          metric,
          size,
          medianUs: median(roundsUs),
          roundsUs,
          calls: callsPerRound.get(`${i}\u0000${from}`) ?? 1,
        });
      }
    }
    log(`  ${workload.id}: measured at ${size} messages (${rounds} rounds)`);
  }
  for (const contender of contenders) await contender.close();
  if (options.sizes.some((size) => options.roundsAt(size) !== options.roundsAt(options.sizes[0] as number))) {
    notes.push(
      `Rounds per size: ${options.sizes.map((s) => `${s.toLocaleString("en")}: ${options.roundsAt(s)}`).join(", ")}.`,
    );
  }
  return { workload, cells, bytes, growth, notes };
}

/** The cell of one contender's metric at one size, if it was measured. */
export const cellOf = (result: WorkloadResult, contender: string, metric: string, size: number): Cell | undefined =>
  result.cells.find((c) => c.contender === contender && c.metric === metric && c.size === size);

/** Bytes of one contender's conversation at one size, if measured. */
export const bytesOf = (result: WorkloadResult, contender: string, size: number): number | undefined =>
  result.bytes.find((b) => b.contender === contender && b.size === size)?.bytes;
