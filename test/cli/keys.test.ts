import { afterAll, describe, expect, it } from "vitest";
import { API_KEY_PATTERN, hashApiKey } from "../../src/server/api-keys.ts";
import { lines, run, tempStore } from "./harness.ts";

const temp = tempStore();
const store = ["--store", temp.url];

afterAll(() => temp.remove());

describe("keys", () => {
  it("create prints the new key alone on one stdout line", async () => {
    const result = await run(["keys", "create", ...store, "--user", "alice", "--admin", "--label", "ops"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^fd_[A-Za-z0-9_-]+\n$/);
    expect(API_KEY_PATTERN.test(result.stdout.trim())).toBe(true);
    expect(lines(result.stderr)).toEqual([expect.stringMatching(/^created admin API key key_\w+ for user alice/)]);
    const other = await run(["keys", "create", ...store, "--user", "bob"]);
    expect(other.code).toBe(0);
    expect(other.stdout).not.toBe(result.stdout);
  });

  it("list shows id, prefix, user, admin, created, revoked, never the secret or its hash", async () => {
    const created = await run(["keys", "create", ...store, "--user", "carol"]);
    const key = created.stdout.trim();
    const table = await run(["keys", "list", ...store]);
    expect(table.code).toBe(0);
    const rows = lines(table.stdout);
    expect(rows[0]).toMatch(/^ID\s+PREFIX\s+USER\s+ADMIN\s+CREATED\s+REVOKED\s+LABEL$/);
    expect(rows.some((row) => /^key_\w+\s+fd_\S+\s+alice\s+yes\s+\S+Z\s+-\s+ops$/.test(row))).toBe(true);
    expect(table.stdout).not.toContain(key);
    expect(table.stdout).not.toContain(hashApiKey(key));

    const json = await run(["keys", "list", ...store, "--json"]);
    const records = lines(json.stdout).map((line) => JSON.parse(line));
    expect(records).toHaveLength(3);
    for (const record of records) {
      expect(Object.keys(record).sort()).toEqual([
        "admin",
        "createdAt",
        "id",
        "label",
        "prefix",
        "requestsPerSecond",
        "revokedAt",
        "userId",
      ]);
    }
    expect(json.stdout).not.toContain(key);
  });

  it("revoke takes an id or a prefix, then refuses to revoke twice", async () => {
    const json = await run(["keys", "list", ...store, "--json"]);
    const [first, second] = lines(json.stdout).map((line) => JSON.parse(line));
    const byId = await run(["keys", "revoke", first.id, ...store]);
    expect(byId).toMatchObject({ code: 0, stdout: "" });
    expect(byId.stderr).toBe(`revoked API key ${first.id}\n`);
    const byPrefix = await run(["keys", "revoke", second.prefix, ...store]);
    expect(byPrefix.code).toBe(0);

    const again = await run(["keys", "revoke", first.id, ...store]);
    expect(again.code).toBe(1);
    expect(lines(again.stderr)).toEqual([expect.stringMatching(/^frontdesk: not_found: /)]);

    const after = await run(["keys", "list", ...store, "--json"]);
    const revoked = lines(after.stdout)
      .map((line) => JSON.parse(line))
      .filter((record) => record.revokedAt !== null)
      .map((record) => record.id);
    expect(revoked.sort()).toEqual([first.id, second.id].sort());
  });

  it("refuses a missing or malformed user with exit 2 and one line", async () => {
    const missing = await run(["keys", "create", ...store]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe("frontdesk: usage: required option '--user <id>' not specified\n");
    const bad = await run(["keys", "create", ...store, "--user", "../root"]);
    expect(bad.code).toBe(2);
    expect(lines(bad.stderr)).toEqual([expect.stringMatching(/^frontdesk: invalid_request: Invalid user id/)]);
    const noArg = await run(["keys", "revoke", ...store]);
    expect(noArg.code).toBe(2);
  });

  it("says so when there are no keys", async () => {
    const empty = tempStore();
    try {
      const result = await run(["keys", "list", "--store", empty.url]);
      expect(result).toMatchObject({ code: 0, stdout: "", stderr: "no API keys\n" });
    } finally {
      empty.remove();
    }
  });
});
