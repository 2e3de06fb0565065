/**
 * What the sizing bench (bench/scaling.ts) needs besides the stores: CPU meters for this process,
 * a child process, the Redis server and the PostgreSQL server, and a closed-loop load driver that
 * keeps a fixed number of operations in flight for a fixed time.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { percentile } from "./measure.ts";

export const log = (line: string): void => {
  process.stderr.write(`[scaling] ${line}\n`);
};

export const fmtInt = (value: number): string => Math.round(value).toLocaleString("en");
export const fmtUs = (us: number): string => (us >= 100 ? fmtInt(us) : us.toFixed(1));

/** CPU seconds consumed so far by something; deltas of two readings are what matter. */
export type CpuMeter = () => Promise<number>;

export const processCpu: CpuMeter = async () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** Kernel clock ticks per second, as /proc/<pid>/stat counts utime and stime in (USER_HZ, 100 on Linux). */
const TICKS = 100;

/** utime + stime of one process from /proc, in seconds; undefined once it is gone. */
export function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may hold spaces: fields are counted after its ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return undefined;
  }
}

export const childCpu =
  (pid: number): CpuMeter =>
  async () =>
    procCpuSeconds(pid) ?? Number.NaN;

/** The Redis server's own CPU (main thread and any I/O threads) from INFO cpu. */
export const redisCpu =
  (info: () => Promise<string>): CpuMeter =>
  async () => {
    const text = await info();
    const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, "m").exec(text)?.[1] ?? Number.NaN);
    return field("used_cpu_user") + field("used_cpu_sys");
  };

/** Local ports of the TCP connections `pids` hold to `remotePort`, from /proc/<pid>/fd and /proc/net/tcp{,6}. */
function clientPorts(pids: number[], remotePort: number): Set<number> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(match[1] as string);
      } catch {
        // closed in between
      }
    }
  }
  const ports = new Set<number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let lines: string[] = [];
    try {
      lines = readFileSync(table, "utf8").split("\n").slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      const [local, remote, inode] = [fields[1], fields[2], fields[9]];
      if (!local || !remote || !inode || !inodes.has(inode)) continue;
      if (Number.parseInt(remote.split(":")[1] ?? "", 16) !== remotePort) continue;
      ports.add(Number.parseInt(local.split(":")[1] ?? "", 16));
    }
  }
  return ports;
}

/**
 * PostgreSQL's CPU spent for `clients`: the backends serving their connections (told apart by the
 * client port in each backend's process title) plus the server's own processes (postmaster, WAL
 * writer, checkpointer, background writer), which every user of the server shares. Other clients'
 * backends are left out. A process that exits between two readings takes its CPU with it, so the
 * meter sums the last reading of every pid it has counted.
 */
export function postgresCpu(clients: () => number[], serverPort = 5432): CpuMeter {
  const last = new Map<number, number>();
  return async () => {
    const ours = clientPorts(clients(), serverPort);
    for (const entry of readdirSync("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      let title: string;
      try {
        if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "postgres") continue;
        title = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      } catch {
        continue;
      }
      // A backend's title reads "postgres: 15/main: user db 127.0.0.1(54321) idle".
      const client = /\((\d+)\)/.exec(title);
      if (client && !ours.has(Number(client[1]))) continue;
      const seconds = procCpuSeconds(pid);
      if (seconds !== undefined) last.set(pid, seconds);
    }
    let sum = 0;
    for (const seconds of last.values()) sum += seconds;
    return sum;
  };
}

/**
 * Each meter's CPU per second while the bench does nothing: other work on a shared server. Sampled
 * in half-second windows until every meter is under half a percent of a core (at most 6), keeping
 * each meter's lowest, so that a load starts on a quiet server when there is one.
 */
export async function idleRates(meters: Record<string, CpuMeter>, maxSamples = 6): Promise<Record<string, number>> {
  const lowest: Record<string, number> = {};
  for (let sample = 0; sample < maxSamples && Object.keys(meters).length > 0; sample++) {
    const before = await readMeters(meters);
    const start = performance.now();
    await new Promise((r) => setTimeout(r, 500));
    const after = await readMeters(meters);
    const elapsed = (performance.now() - start) / 1000;
    for (const name of Object.keys(meters)) {
      const rate = Math.max(0, ((after[name] ?? 0) - (before[name] ?? 0)) / elapsed);
      lowest[name] = Math.min(lowest[name] ?? Number.POSITIVE_INFINITY, rate);
    }
    if (Object.values(lowest).every((rate) => rate < 0.005)) break;
  }
  return lowest;
}

/**
 * CPU spent in a measured window by each meter, less other work's: the idle rate times the window,
 * with the lower of the rates sampled before and after (once more, one sample), so a burst of
 * someone else's work next to the window is never taken off what the window cost.
 */
export async function netCpu(
  meters: Record<string, CpuMeter>,
  idleBefore: Record<string, number>,
  before: Record<string, number>,
  after: Record<string, number>,
  wallS: number,
): Promise<{ cpu: Record<string, number>; idle: Record<string, number> }> {
  const idleAfter = await idleRates(meters, 1);
  const idle = Object.fromEntries(
    Object.keys(meters).map((name) => [name, Math.min(idleBefore[name] ?? 0, idleAfter[name] ?? 0)]),
  );
  const cpu = Object.fromEntries(
    Object.keys(meters).map((name) => [name, (after[name] ?? 0) - (before[name] ?? 0) - (idle[name] ?? 0) * wallS]),
  );
  return { cpu, idle };
}

export interface LoadResult {
  ops: number;
  wallS: number;
  /** CPU seconds each meter counted over the measured window, less its idle rate times the window (netCpu). */
  cpu: Record<string, number>;
  /** Each meter's idle rate (CPU seconds per second) that was subtracted. */
  idle: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Keeps `concurrency` calls of `op(worker, i)` in flight for `seconds` after `warmupS` of the same
 * load unmeasured (the meters' idle rates sampled before and after), and reads every meter just before
 * the measured window and once its last call has
 * returned.
 */
export async function saturate(
  op: (worker: number, i: number) => Promise<unknown>,
  {
    concurrency,
    seconds,
    warmupS,
    meters,
  }: { concurrency: number; seconds: number; warmupS: number; meters: Record<string, CpuMeter> },
): Promise<LoadResult> {
  const idleBefore = await idleRates(meters);
  let phase: "warmup" | "measure" | "stop" = "warmup";
  let ops = 0;
  const latencies: number[] = [];
  const workers = Array.from({ length: concurrency }, async (_, worker) => {
    for (let i = 0; phase !== "stop"; i++) {
      const start = performance.now();
      await op(worker, i);
      if (phase !== "warmup") {
        ops++;
        latencies.push(performance.now() - start);
      }
    }
  });
  await new Promise((r) => setTimeout(r, warmupS * 1000));
  const before = await readMeters(meters);
  const start = performance.now();
  phase = "measure";
  await new Promise((r) => setTimeout(r, seconds * 1000));
  // The calls in flight finish inside the window, so the CPU read below is all spent on counted calls.
  phase = "stop";
  await Promise.all(workers);
  const wallS = (performance.now() - start) / 1000;
  const after = await readMeters(meters);
  const sorted = latencies.sort((a, b) => a - b);
  const { cpu, idle } = await netCpu(meters, idleBefore, before, after, wallS);
  return {
    ops,
    wallS,
    cpu,
    idle,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
  };
}

export async function readMeters(meters: Record<string, CpuMeter>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, meter] of Object.entries(meters)) out[name] = await meter();
  return out;
}

/** Apparent bytes of the files under `dir` and the bytes their blocks take on disk (`du`). */
export function treeBytes(dir: string): { apparent: number; allocated: number } {
  let apparent = 0;
  let allocated = 0;
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        allocated += statSync(path).blocks * 512;
        walk(path);
      } else {
        const stat = statSync(path);
        apparent += stat.size;
        allocated += stat.blocks * 512;
      }
    }
  };
  // A store that has not written yet may not have made its folder.
  if (existsSync(dir)) walk(dir);
  return { apparent, allocated };
}
