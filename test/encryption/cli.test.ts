import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerStoreCommands } from "../../src/cli/commands/store.ts";
import { describeFailure, EXIT_CODE } from "../../src/cli/failures.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { isSealed } from "../../src/encryption/seal.ts";
import { openStore } from "../../src/stores/registry.ts";
import { CapturedStream, type RunResult, run, serveInProcess, tempStore } from "../cli/harness.ts";

/**
 * `frontdesk store …` as main() would run it once the lead registers it (the registration line is
 * in the report), so these tests build the same program around it.
 */
async function runStore(argv: string[], env: Record<string, string>): Promise<RunResult> {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const program = new Command("frontdesk").exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  registerStoreCommands(program, { stdout, stderr, env });
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride().configureOutput(program.configureOutput());
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return { code: EXIT_CODE.ok, stdout: stdout.text, stderr: stderr.text };
  } catch (error) {
    const failure = describeFailure(error);
    return { code: failure.exitCode, stdout: stdout.text, stderr: `${stderr.text}${failure.line}\n` };
  }
}

const masterKey = (id: string) => `${id}:${randomBytes(32).toString("base64")}`;

describe("frontdesk store encrypt and rotate-key", () => {
  let temp: ReturnType<typeof tempStore>;
  let env: Record<string, string>;
  const canary = `canary${randomBytes(6).toString("hex")}`;

  beforeEach(async () => {
    temp = tempStore();
    env = { FRONTDESK_MASTER_KEYS: masterKey("k1"), FRONTDESK_KEY_RING: join(temp.dir, "ring", "keyring.db") };
    // A store written before encryption was turned on.
    const store = await openStore(temp.url);
    const sessions = new SessionManager(() => ({}), store, "default", { defaultTtlMs: null }).forUser("alice");
    await sessions.create({ sessionId: "s1", state: { secret: `${canary}-state` }, metadata: { m: canary } });
    await sessions.addMessage("s1", { role: "user", content: `${canary}-content` });
    await store.close();
  });
  afterEach(() => temp.remove());

  const rawHeader = async () => {
    const store = await openStore(temp.url);
    try {
      return await store.get({ namespace: "default", userId: "alice", id: "s1" }, 0);
    } finally {
      await store.close();
    }
  };
  const show = (showEnv: Record<string, string> = env) =>
    run(["sessions", "show", "s1", "--user", "alice", "--store", temp.url, "--json"], { env: showEnv });

  it("encrypt seals the store in place; every command then reads it through the key ring", async () => {
    const result = await runStore(["store", "encrypt", "--store", temp.url, "--vacuum"], env);
    expect(result.code).toBe(0);
    const fileBytes = [temp.path, `${temp.path}-wal`]
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file).toString("latin1"))
      .join("");
    expect(fileBytes).not.toContain(canary);
    expect(result.stderr).toMatch(
      /^sealed \d+ events and 2 values in 1 of 1 sessions \(\d+ commits\), namespace default\n$/,
    );
    const header = await rawHeader();
    expect(isSealed(header?.state.secret)).toBe(true);
    expect(isSealed(header?.metadata.m)).toBe(true);
    expect(existsSync(env.FRONTDESK_KEY_RING as string)).toBe(true);
    expect(readFileSync(env.FRONTDESK_KEY_RING as string).toString("latin1")).not.toContain(canary);

    const shown = await show();
    expect(shown.code).toBe(0);
    const { session, events } = JSON.parse(shown.stdout);
    expect(session.state).toEqual({ secret: `${canary}-state` });
    expect(events.at(-1).content).toBe(`${canary}-content`);

    // Without the keys the sealed values are only ciphertext.
    const blind = await run(["sessions", "show", "s1", "--user", "alice", "--store", temp.url, "--json"], { env: {} });
    expect(JSON.parse(blind.stdout).session.state.secret).toMatch(/^fd:enc:1:/);

    const again = await runStore(["store", "encrypt", "--store", temp.url], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/^sealed 0 events and 0 values in 1 of 1 sessions \(0 commits\)/);
  });

  it("rotate-key rewraps with the new master key, after which the old one can go", async () => {
    await runStore(["store", "encrypt", "--store", temp.url], env);
    const [oldKey] = [env.FRONTDESK_MASTER_KEYS as string];
    const newKey = masterKey("k2");
    const rotated = await runStore(["store", "rotate-key"], { ...env, FRONTDESK_MASTER_KEYS: `${newKey},${oldKey}` });
    expect(rotated.code).toBe(0);
    expect(rotated.stderr).toBe("rewrapped 1 data keys with master key k2 (0 already were)\n");
    const shown = await show({ ...env, FRONTDESK_MASTER_KEYS: newKey });
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout).session.state).toEqual({ secret: `${canary}-state` });
    // The data key is wrapped by k2 now: the old key alone no longer opens it.
    const withOldOnly = await show({ ...env, FRONTDESK_MASTER_KEYS: oldKey });
    expect(withOldOnly.code).toBe(EXIT_CODE.failure);
    expect(withOldOnly.stderr).toMatch(/unavailable: Master key "k2" is not configured/);
  });

  it("master keys come from a key file too; a file others may read is refused", async () => {
    const file = join(temp.dir, "master.keys");
    writeFileSync(file, `${masterKey("file1")}\n`);
    chmodSync(file, 0o644);
    const fileEnv = { FRONTDESK_MASTER_KEY_FILE: file, FRONTDESK_KEY_RING: env.FRONTDESK_KEY_RING as string };
    const refused = await runStore(["store", "encrypt", "--store", temp.url], fileEnv);
    expect(refused.stderr).toMatch(/chmod 600/);
    expect(refused.code).toBe(EXIT_CODE.usage);
    chmodSync(file, 0o600);
    const accepted = await runStore(["store", "encrypt", "--store", temp.url], fileEnv);
    expect(accepted.stderr).toMatch(/^sealed /);
    expect(accepted.code).toBe(0);
    expect((await show(fileEnv)).code).toBe(0);
  });

  it("refuses to run unconfigured or half configured, and never uses the store's own file as the key ring", async () => {
    const none = await runStore(["store", "encrypt", "--store", temp.url], {});
    expect(none.code).toBe(EXIT_CODE.usage);
    expect(none.stderr).toMatch(/Encryption is not configured/);
    const keysOnly = await run(["sessions", "list", "--store", temp.url], {
      env: { FRONTDESK_MASTER_KEYS: env.FRONTDESK_MASTER_KEYS as string },
    });
    expect(keysOnly.code).toBe(EXIT_CODE.usage);
    expect(keysOnly.stderr).toMatch(/no key ring/);
    const ringOnly = await runStore(["store", "rotate-key"], { FRONTDESK_KEY_RING: env.FRONTDESK_KEY_RING as string });
    expect(ringOnly.code).toBe(EXIT_CODE.usage);
    const sameFile = await run(["sessions", "list", "--store", temp.url], {
      env: { ...env, FRONTDESK_KEY_RING: temp.path },
    });
    expect(sameFile.code).toBe(EXIT_CODE.usage);
    expect(sameFile.stderr).toMatch(/must not be the store's own file/);
    expect(isSealed((await rawHeader())?.state.secret)).toBe(false);
  });

  it("reads encryption settings from the config file's encryption section", async () => {
    const file = join(temp.dir, "master.keys");
    writeFileSync(file, `${masterKey("cfg")}\n`, { mode: 0o600 });
    const config = join(temp.dir, "frontdesk.config.json");
    writeFileSync(
      config,
      JSON.stringify({ store: temp.url, encryption: { masterKeyFile: file, keyRing: join(temp.dir, "cfg-ring.db") } }),
    );
    const result = await runStore(["store", "encrypt", "--config", config], {});
    expect(result.code).toBe(0);
    expect(isSealed((await rawHeader())?.state.secret)).toBe(true);
    const shown = await run(["sessions", "show", "s1", "--user", "alice", "--config", config, "--json"], { env: {} });
    expect(JSON.parse(shown.stdout).session.state).toEqual({ secret: `${canary}-state` });
  });

  it("serve wraps its store: what clients send is sealed at rest, and the start-up lines say so", async () => {
    const server = await serveInProcess(["--store", temp.url], env);
    try {
      expect(server.stderr.text).toMatch(
        /^encryption: on \(master key k1 from \$FRONTDESK_MASTER_KEYS, key ring \S+keyring\.db\)$/m,
      );
      const key = /created admin API key \(shown once\): (\S+)/.exec(server.stderr.text)?.[1];
      const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
      const created = await fetch(`${server.url}/v1/sessions`, {
        method: "POST",
        headers,
        body: JSON.stringify({ id: "http", state: { secret: `${canary}-http` } }),
      });
      expect(created.status).toBe(201);
      const appended = await fetch(`${server.url}/v1/sessions/http/events`, {
        method: "POST",
        headers,
        body: JSON.stringify({ type: "message", role: "user", content: `${canary}-http-message` }),
      });
      expect(appended.status).toBe(201);
      const read = await fetch(`${server.url}/v1/sessions/http/events`, { headers });
      expect(JSON.stringify(await read.json())).toContain(`${canary}-http-message`);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const store = await openStore(temp.url);
    try {
      const raw = JSON.stringify([
        await store.get({ namespace: "default", userId: "admin", id: "http" }, 0),
        await store.readEvents({ namespace: "default", userId: "admin", id: "http" }, {}),
      ]);
      expect(raw).toContain("fd:enc:1:");
      expect(raw).not.toContain(`${canary}-http`);
    } finally {
      await store.close();
    }
  });
});
