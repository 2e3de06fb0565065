import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, type CliProcess, runCli, startServe } from "./processes.ts";

/**
 * Every command finds its configuration the same way: a flag, else the environment, else
 * ./frontdesk.config.json, else the defaults; and `serve` says at start-up what it loaded.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
beforeAll(() => assertBuilt());

/** A scratch working directory (its real path: what the process sees as its cwd). */
const workDir = (): string => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "fd-config-")));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const writeJson = (file: string, value: unknown): string => {
  writeFileSync(file, JSON.stringify(value));
  return file;
};

const serveIn = async (cwd: string, args: string[], env: Record<string, string> = {}) => {
  const started = await startServe(["--port", "0", ...args], env, cwd);
  const cli: CliProcess = started.cli;
  cleanups.push(() => cli.kill());
  // The start-up lines come before `listening on`, but on another stream: wait for the last.
  await cli.waitFor(/^limits: .*\n/m, { stream: "stderr" });
  return { ...started, cli };
};

const HOUSE_CONFIG = {
  defaultAgent: "concierge",
  agents: { concierge: { model: "house", prompt: "house", tools: [] } },
  models: { house: { provider: "offline", model: "house-model-7", contextWindow: 8192 } },
  prompts: { house: "You are the concierge of this house." },
  limits: { maxBodyBytes: 65_536 },
};

describe("configuration discovery", () => {
  it("serve exports Node's process metrics on /metrics, unless the config file says processMetrics: false", async () => {
    const scrape = async (config: object): Promise<string> => {
      const dir = workDir();
      writeJson(join(dir, "frontdesk.config.json"), { store: "memory:", ...config });
      const { cli, url } = await serveIn(dir, []);
      const key = (/\(shown once\): (fd_\S+)/.exec(cli.stderr) as RegExpExecArray)[1] as string;
      const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
      expect(response.status).toBe(200);
      return response.text();
    };
    const byDefault = await scrape({});
    expect(byDefault).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(byDefault).toMatch(/^process_cpu_user_seconds_total /m);
    const off = await scrape({ processMetrics: false });
    expect(off).toMatch(/^# HELP frontdesk_http_request_duration_seconds /m);
    expect(off).not.toMatch(/nodejs_eventloop_lag_seconds/);
  });

  it("serve reads ./frontdesk.config.json: its model serves turns, and start-up names the file and the limits", async () => {
    const dir = workDir();
    const file = writeJson(join(dir, "frontdesk.config.json"), { ...HOUSE_CONFIG, store: "sqlite:./from-file.db" });
    const { cli, url } = await serveIn(dir, []);
    expect(cli.stderr).toMatch(new RegExp(`^config: ${file.replaceAll(".", "\\.")}$`, "m"));
    expect(cli.stderr).toMatch(/^store: sqlite:\.\/from-file\.db \(config file\)$/m);
    expect(cli.stderr).toMatch(/^limits: .*\bmaxBodyBytes=65536\b/m);
    expect(cli.stderr).toMatch(/^limits: .*\bmaxJsonDepth=64\b/m);

    const key = (/\(shown once\): (fd_\S+)/.exec(cli.stderr) as RegExpExecArray)[1] as string;
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const created = await fetch(`${url}/v1/sessions`, { method: "POST", headers, body: JSON.stringify({ id: "c" }) });
    expect(created.status).toBe(201);
    const turn = await fetch(`${url}/v1/sessions/c/turns`, {
      method: "POST",
      headers,
      body: JSON.stringify({ message: "hello", agent: "concierge" }),
    });
    const text = await turn.text();
    expect(turn.status, text).toBe(200);
    const events = await fetch(`${url}/v1/sessions/c/events?type=message`, { headers });
    const items = ((await events.json()) as { items: { role: string; model?: string }[] }).items;
    expect(items.find((event) => event.role === "assistant")?.model).toBe("house-model-7");
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
  });

  it("serve without any config file says it loaded none", async () => {
    const dir = workDir();
    const { cli } = await serveIn(dir, ["--store", "memory:"]);
    expect(cli.stderr).toMatch(/^config: none \(no --config, \$FRONTDESK_CONFIG or \.\/frontdesk\.config\.json\)$/m);
    expect(cli.stderr).toMatch(/^store: memory: \(--store\)$/m);
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
  });

  it("a flag wins over the environment, which wins over the config file, which wins over the default", async () => {
    const dir = workDir();
    writeJson(join(dir, "frontdesk.config.json"), { store: "sqlite:./from-file.db" });
    const named = writeJson(join(dir, "named.json"), { store: "sqlite:./from-named.db" });
    const other = writeJson(join(dir, "other.json"), { store: "sqlite:./from-other.db" });
    const storeLine = async (args: string[], env: Record<string, string> = {}) => {
      const { cli } = await serveIn(dir, args, env);
      expect(await cli.stop()).toEqual({ code: 0, signal: null });
      return {
        store: /^store: (.*)$/m.exec(cli.stderr)?.[1],
        config: /^config: (.*)$/m.exec(cli.stderr)?.[1],
      };
    };
    const env = { FRONTDESK_STORE: "sqlite:./from-env.db" };
    expect(await storeLine(["--store", "sqlite:./from-flag.db"], env)).toEqual({
      store: "sqlite:./from-flag.db (--store)",
      config: join(dir, "frontdesk.config.json"),
    });
    expect((await storeLine([], env)).store).toBe("sqlite:./from-env.db ($FRONTDESK_STORE)");
    expect(await storeLine([])).toEqual({
      store: "sqlite:./from-file.db (config file)",
      config: join(dir, "frontdesk.config.json"),
    });
    // The file itself: --config, else $FRONTDESK_CONFIG, else ./frontdesk.config.json.
    expect(await storeLine([], { FRONTDESK_CONFIG: named })).toEqual({
      store: "sqlite:./from-named.db (config file)",
      config: named,
    });
    expect(await storeLine(["--config", other], { FRONTDESK_CONFIG: named })).toEqual({
      store: "sqlite:./from-other.db (config file)",
      config: other,
    });
    const empty = workDir();
    const { cli } = await serveIn(empty, []);
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
    expect(cli.stderr).toMatch(/^store: sqlite:\.\/\.frontdesk\/frontdesk\.db \(default\)$/m);
  });

  it("run, sessions and keys use the config file's store and namespace, as serve does", async () => {
    const dir = workDir();
    writeJson(join(dir, "frontdesk.config.json"), {
      ...HOUSE_CONFIG,
      store: "sqlite:./from-file.db",
      namespace: "team",
    });
    const ran = await runCli(["run", "hello there"], {}, undefined, dir);
    expect(ran.code, ran.stderr).toBe(0);
    const made = await runCli(["keys", "create", "--user", "ops"], {}, undefined, dir);
    expect(made.code, made.stderr).toBe(0);

    // Read from elsewhere, naming the file's store and namespace explicitly.
    const storeUrl = `sqlite:${join(dir, "from-file.db")}`;
    const listed = await runCli(["sessions", "list", "--store", storeUrl, "--namespace", "team", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const sessions = listed.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { id: string; title: string });
    expect(sessions.map((session) => session.title)).toEqual(["hello there"]);
    const keys = await runCli(["keys", "list", "--store", storeUrl, "--json"]);
    expect(keys.stdout).toMatch(/"userId":"ops"/);

    // And `sessions` in the directory finds the same without being told.
    const here = await runCli(["sessions", "show", sessions[0]?.id as string, "--json"], {}, undefined, dir);
    expect(here.code, here.stderr).toBe(0);
    const shown = JSON.parse(here.stdout) as { session: { namespace: string }; events: { model?: string }[] };
    expect(shown.session.namespace).toBe("team");
    expect(shown.events.some((event) => event.model === "house-model-7")).toBe(true);
  });
});
