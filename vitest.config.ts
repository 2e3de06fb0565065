import { configDefaults, defineConfig } from "vitest/config";

/**
 * Tests whose bounds are timings (a /healthz probe under a stall, SIGTERM drains on every store)
 * or that load the whole machine (packing and installing the package) go under test/isolated/ or
 * test/package/. They run after every other file has finished, one file at a time, so a busy
 * neighbour cannot make them flaky and they cannot make a neighbour flaky. `vitest run` still runs
 * everything in one report and one exit code: Vitest runs project groups in `groupOrder`, waiting
 * for each group to settle (failed or not) before starting the next.
 */
const ALONE = ["test/isolated/**/*.test.ts", "test/package/**/*.test.ts"];

/** Globs left out of this run, space-separated: .ci/node24 leaves some suites to the Node 20 run. */
const EXCLUDED = (process.env.FRONTDESK_TEST_EXCLUDE ?? "").split(/\s+/).filter(Boolean);

// The Redis, Redis Cluster and PostgreSQL suites skip when their URL is unset, which is right on a
// laptop. Under CI that would pass a run that never tested those stores, so it fails instead, as a
// missing tool does.
if (process.env.CI) {
  const unset = ["FRONTDESK_TEST_REDIS_URL", "FRONTDESK_TEST_REDIS_CLUSTER_URL", "FRONTDESK_TEST_POSTGRES_URL"].filter(
    (name) => !process.env[name],
  );
  if (unset.length > 0) {
    throw new Error(`CI is set, so the store suites must not skip, but these are unset: ${unset.join(", ")}`);
  }
}

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      {
        extends: true,
        test: {
          name: "main",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...ALONE, ...EXCLUDED],
          // Vitest's default is one worker less than the cores: on a 2-core CI machine, one, and the
          // suite ran file after file though most of its time is waiting on servers, browsers and
          // databases. These files bound nothing by time (those are ALONE), so two run side by side.
          maxWorkers: 2,
          // Files share a worker's module cache: each one used to load Fastify, the AI SDK, the
          // stores and the rest anew, about 165 s of a CI run's summed import time (26 s without).
          // A file that changes process-wide state (an environment variable, fake timers, the
          // working directory) puts it back. FRONTDESK_TEST_ISOLATE=1 isolates them again, to
          // find out whether a failure comes from a neighbour.
          isolate: process.env.FRONTDESK_TEST_ISOLATE === "1",
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "alone",
          include: ALONE,
          exclude: [...configDefaults.exclude, ...EXCLUDED],
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
