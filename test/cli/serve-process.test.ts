import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { lines, run, serveInProcess, tempStore } from "./harness.ts";
import { assertBuilt, type CliProcess, runCli, startServe } from "./processes.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const tracked = (cli: CliProcess): CliProcess => {
  cleanups.push(() => cli.kill());
  return cli;
};

const newStore = () => {
  const temp = tempStore();
  cleanups.push(() => temp.remove());
  return temp;
};

beforeAll(() => assertBuilt());

describe("frontdesk serve (real process)", () => {
  it("prints one listening line, creates a first admin key on stderr, serves HTTP, and exits 0 on SIGTERM", async () => {
    const temp = newStore();
    const { cli, url } = await startServe(["--store", temp.url, "--port", "0"], { FRONTDESK_LOG_LEVEL: "info" });
    tracked(cli);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url).not.toMatch(/:0$/);
    const key = await cli.adminKey();

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const anonymous = await fetch(`${url}/v1/sessions`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("unauthorized");

    const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const created = await fetch(`${url}/v1/sessions`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ id: "e2e", title: "End to end" }),
    });
    expect(created.status).toBe(201);
    const listed = (await (await fetch(`${url}/v1/sessions`, { headers: auth })).json()) as { items: { id: string }[] };
    expect(listed.items.map((item) => item.id)).toContain("e2e");

    // The CLI against the running server, and against its store directly, agree.
    const remote = await run(["sessions", "list", "--server", url, "--key", key, "--json"]);
    expect(remote.code).toBe(0);
    expect(lines(remote.stdout).map((line) => JSON.parse(line).id)).toEqual(["e2e"]);
    const direct = await run(["sessions", "show", "e2e", "--store", temp.url, "--json"]);
    expect(JSON.parse(direct.stdout).session.title).toBe("End to end");

    const exit = await cli.stop("SIGTERM");
    expect(exit).toEqual({ code: 0, signal: null });
    expect(lines(cli.stdout)).toEqual([`listening on ${url}`]);
    // Logs went to stderr as pino JSON lines.
    expect(cli.stderr).toMatch(/"level":30/);
  });

  it("creates no key when the store already has one, and exits 0 on SIGINT", async () => {
    const temp = newStore();
    const made = await runCli(["keys", "create", "--store", temp.url, "--user", "ops", "--admin"]);
    expect(made.code).toBe(0);
    const { cli, url } = await startServe(["--store", temp.url], { FRONTDESK_PORT: "0" });
    tracked(cli);
    const ok = await fetch(`${url}/v1/sessions`, { headers: { authorization: `Bearer ${made.stdout.trim()}` } });
    expect(ok.status).toBe(200);
    expect(await cli.stop("SIGINT")).toEqual({ code: 0, signal: null });
    expect(cli.stderr).not.toMatch(/created admin API key/);
    const keys = await run(["keys", "list", "--store", temp.url, "--json"]);
    expect(lines(keys.stdout)).toHaveLength(1);
  });

  it("refuses to listen beyond loopback without keys, in one line, creating none", async () => {
    const temp = newStore();
    const result = await runCli(["serve", "--store", temp.url, "--host", "0.0.0.0", "--port", "0"]);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe("");
    expect(lines(result.stderr)).toEqual([expect.stringMatching(/^frontdesk: \w+: /)]);
    const keys = await run(["keys", "list", "--store", temp.url, "--json"]);
    expect(keys.stdout).toBe("");
  });

  it("fails in one line when the port is taken", async () => {
    const temp = newStore();
    const { cli, url } = await startServe(["--store", temp.url, "--port", "0"]);
    tracked(cli);
    const port = new URL(url).port;
    const other = newStore();
    const second = await runCli(["serve", "--store", other.url, "--port", port]);
    expect(second.code).toBe(1);
    expect(lines(second.stderr).filter((line) => line.startsWith("frontdesk:"))).toHaveLength(1);
    expect(second.stderr).toMatch(/EADDRINUSE|in use/i);
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
  });
});

describe("frontdesk serve (in process)", () => {
  it("stops on io.signal like SIGTERM and resolves 0", async () => {
    const temp = newStore();
    const server = await serveInProcess(["--store", temp.url]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(await server.stop()).toBe(0);
    expect(server.stderr.text).toMatch(
      /^created admin API key \(shown once\): fd_\S+\nconfig: .*\nstore: .*\nlimits: .*\n$/,
    );
    expect(server.stdout.text).toBe(`listening on ${server.url}\n`);
  });

  it("creates a new first key when every key is revoked", async () => {
    const temp = newStore();
    const made = await run(["keys", "create", "--store", temp.url, "--user", "ops"]);
    expect((await run(["keys", "revoke", made.stdout.trim(), "--store", temp.url])).code).toBe(0);
    const server = await serveInProcess(["--store", temp.url]);
    expect(await server.stop()).toBe(0);
    expect(server.stderr.text).toMatch(/created admin API key/);
  });

  it("applies the config file: namespace, TTL, limits and log level", async () => {
    const temp = newStore();
    const config = join(temp.dir, "frontdesk.config.json");
    writeFileSync(
      config,
      JSON.stringify({
        store: temp.url,
        namespace: "prod",
        defaultTtlSeconds: null,
        logLevel: "info",
        limits: { maxBodyBytes: 2048 },
      }),
    );
    const server = await serveInProcess(["--config", config], { FRONTDESK_LOG_LEVEL: "" });
    const key = /\(shown once\): (fd_\S+)/.exec(server.stderr.text)![1]!;
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const created = await fetch(`${server.url}/v1/sessions`, {
      method: "POST",
      headers,
      body: JSON.stringify({ id: "cfg" }),
    });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { expiresAt: number | null }).expiresAt).toBeNull();
    const big = await fetch(`${server.url}/v1/sessions`, {
      method: "POST",
      headers,
      body: JSON.stringify({ id: "big", title: "x".repeat(4000) }),
    });
    expect(big.status).toBe(413);
    expect(await server.stop()).toBe(0);
    // Logs at info went to stderr; stdout kept its one line.
    expect(server.stderr.text).toMatch(/"level":30/);
    expect(lines(server.stdout.text)).toHaveLength(1);
    const listed = await run(["sessions", "list", "--store", temp.url, "--namespace", "prod", "--json"]);
    expect(lines(listed.stdout).map((line) => JSON.parse(line).id)).toEqual(["cfg"]);
  });
});
