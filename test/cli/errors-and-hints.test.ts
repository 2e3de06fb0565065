import { randomBytes } from "node:crypto";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { REDIS, uniquePrefix } from "../support/backends.ts";
import { lines, run, tempStore } from "./harness.ts";
import { assertBuilt, runCli, startServe } from "./processes.ts";

/** Errors and hints that tell the user what to do next. */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
beforeAll(() => assertBuilt());

/** A backend URL from the environment; under CI a missing one fails rather than skips. */
function backendUrl(variable: string): string | undefined {
  const url = process.env[variable];
  if (url !== undefined && url !== "") return url;
  if (process.env.CI === "true") throw new Error(`${variable} is not set: CI must test against the real backend`);
  console.warn(`skipping: ${variable} is not set`);
  return undefined;
}

describe("CLI help and hints", () => {
  it("sessions gc --help offers no --server or --key, which gc cannot use; and refuses them with a reason", async () => {
    const gc = await run(["sessions", "gc", "--help"]);
    expect(gc.code).toBe(0);
    expect(gc.stdout).toMatch(/--store <url>/);
    expect(gc.stdout).not.toMatch(/--server|--key/);
    // The commands that can act through a server still offer both.
    const list = await run(["sessions", "list", "--help"]);
    expect(list.stdout).toMatch(/--server <url>/);
    expect(list.stdout).toMatch(/--key <key>/);

    const temp = tempStore();
    cleanups.push(() => temp.remove());
    for (const option of [
      ["--server", "http://127.0.0.1:1"],
      ["--key", "fd_x"],
    ]) {
      const refused = await run(["sessions", "gc", "--store", temp.url, ...option]);
      expect(refused.code).toBe(2);
      expect(lines(refused.stderr)).toEqual([
        "frontdesk: usage: gc works on a store only: pass --store, not --server or --key",
      ]);
    }
  });

  it("the refusal to listen on 0.0.0.0 without keys names the command with this --store", async () => {
    const temp = tempStore();
    cleanups.push(() => temp.remove());
    const refused = await run(["serve", "--store", temp.url, "--host", "0.0.0.0", "--port", "0"]);
    expect(refused.code).toBe(2);
    expect(lines(refused.stderr)).toHaveLength(1);
    expect(refused.stderr).toContain(`\`frontdesk keys create --user ID --store ${temp.url}\``);

    // The hinted command works as printed, and then the server starts.
    const made = await run(["keys", "create", "--user", "ops", "--store", temp.url]);
    expect(made.code).toBe(0);
    const { cli } = await startServe(["--store", temp.url, "--host", "0.0.0.0", "--port", "0"]);
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
  });
});

describe("store errors and warnings", () => {
  it("a PostgreSQL URL naming a missing database says so and how to create it", async () => {
    const base = backendUrl("FRONTDESK_TEST_POSTGRES_URL");
    if (base === undefined) return;
    const name = `fd_missing_${randomBytes(6).toString("hex")}`;
    const url = new URL(base);
    url.pathname = `/${name}`;
    const result = await run(["sessions", "list", "--store", url.href]);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([
      `frontdesk: unavailable: The PostgreSQL database "${name}" does not exist: create it with \`createdb ${name}\` (or \`CREATE DATABASE "${name}";\` in psql), or fix the database name in the URL`,
    ]);
    expect(result.stderr).not.toMatch(/3D000/);
  });

  it("Redis's appendonly warning comes once from serve, never from the other commands", async () => {
    const base = backendUrl("FRONTDESK_TEST_REDIS_URL");
    if (base === undefined) return;
    const prefix = uniquePrefix("hint");
    const storeUrl = REDIS.scoped(base, prefix);
    cleanups.push(() => REDIS.cleanup(base, prefix));
    const { Redis } = await import("ioredis");
    const admin = new Redis(base);
    const [, appendonly] = (await admin.call("CONFIG", "GET", "appendonly").finally(() => admin.quit())) as string[];

    for (const args of [
      ["sessions", "list"],
      ["keys", "create", "--user", "ops"],
      ["keys", "list"],
      ["sessions", "gc"],
    ]) {
      const result = await runCli([...args, "--store", storeUrl]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr, args.join(" ")).not.toMatch(/appendonly|frontdesk:redis/);
    }
    const inProcess = await run(["sessions", "list", "--store", storeUrl]);
    expect(inProcess.stderr).not.toMatch(/appendonly/);

    const { cli, url } = await startServe(["--store", storeUrl, "--port", "0"], { FRONTDESK_LOG_LEVEL: "warn" });
    // A few requests use the store after start-up; the warning still comes once.
    for (let i = 0; i < 3; i++) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
    const warnings = lines(cli.stderr).filter((line) => line.includes("appendonly"));
    expect(warnings).toHaveLength(appendonly === "no" ? 1 : 0);
    // In the server's structured log, at warn level.
    for (const warning of warnings) expect(JSON.parse(warning)).toMatchObject({ level: 40, setting: "appendonly" });
  });
});
