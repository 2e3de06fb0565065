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
          exclude: [...configDefaults.exclude, ...ALONE],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "alone",
          include: ALONE,
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
