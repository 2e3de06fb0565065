import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lines, run, serveInProcess, tempStore, withManager } from "./harness.ts";

const temp = tempStore();
let server: Awaited<ReturnType<typeof serveInProcess>>;
let admin: string;
let bobKey: string;

beforeAll(async () => {
  admin = (await run(["keys", "create", "--store", temp.url, "--user", "root", "--admin"])).stdout.trim();
  bobKey = (await run(["keys", "create", "--store", temp.url, "--user", "bob"])).stdout.trim();
  await withManager(temp.url, async (manager) => {
    await manager.create({ sessionId: "a1", userId: "alice", title: "Alice's", tags: ["x"] });
    await manager.addMessage({ id: "a1", userId: "alice" }, { role: "user", content: "hello" });
    await manager.addMessage({ id: "a1", userId: "alice" }, { role: "assistant", content: "hi there" });
    await manager.create({ sessionId: "b1", userId: "bob", title: "Bob's" });
    await manager.create({ sessionId: "same", userId: "alice" });
    await manager.create({ sessionId: "same", userId: "bob" });
  });
  server = await serveInProcess(["--store", temp.url]);
});

afterAll(async () => {
  expect(await server.stop()).toBe(0);
  temp.remove();
});

const remote = (key = admin) => ["--server", server.url, "--key", key];

describe("sessions through a running server", () => {
  it("lists every user's sessions with an admin key and only the caller's with a user key", async () => {
    const all = await run(["sessions", "list", ...remote(), "--json"]);
    expect(all.code).toBe(0);
    expect(
      lines(all.stdout)
        .map((line) => JSON.parse(line).id)
        .sort(),
    ).toEqual(["a1", "b1", "same", "same"]);
    const bob = await run(["sessions", "list", ...remote(bobKey), "--json"]);
    expect(lines(bob.stdout).map((line) => JSON.parse(line).userId)).toEqual(["bob", "bob"]);
    const table = await run(["sessions", "list", ...remote(), "--user", "alice", "--tag", "x"]);
    expect(lines(table.stdout)).toHaveLength(2);
    expect(table.stdout).toMatch(/^a1\s+alice\s+active\s+2\s/m);
  });

  it("shows, counts and exports the same as the store does", async () => {
    const viaServer = await run(["sessions", "show", "a1", ...remote(), "--json"]);
    const viaStore = await run(["sessions", "show", "a1", "--store", temp.url, "--json"]);
    expect(viaServer.code).toBe(0);
    const a = JSON.parse(viaServer.stdout);
    const b = JSON.parse(viaStore.stdout);
    expect(a.events).toEqual(b.events);
    expect(a.session.id).toBe("a1");
    expect(a.session.stats).toEqual(b.session.stats);

    const stats = await run(["sessions", "stats", "a1", ...remote(), "--json"]);
    expect(JSON.parse(stats.stdout)).toMatchObject({ messages: 2 });

    const exported = await run(["sessions", "export", "a1", ...remote()]);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toBe("exported 2 events\n");
    expect(lines(exported.stdout)).toHaveLength(3);

    const imported = await run(["sessions", "import", "-", ...remote(), "--id", "a1-copy"], { stdin: exported.stdout });
    expect(imported).toMatchObject({ code: 0, stdout: "a1-copy\n" });
    // The exported owner is kept, as with a store.
    const copy = await run(["sessions", "show", "a1-copy", ...remote(), "--user", "alice", "--json"]);
    expect(JSON.parse(copy.stdout).session).toMatchObject({ userId: "alice", lastSeq: 2 });
  });

  it("keeps users apart: another user's session is not found, and importing for them is forbidden", async () => {
    const hidden = await run(["sessions", "show", "a1", ...remote(bobKey)]);
    expect(hidden).toMatchObject({ code: 1, stderr: "frontdesk: not_found: Session not found\n" });
    const forced = await run(["sessions", "show", "a1", ...remote(bobKey), "--user", "alice"]);
    expect(forced.code).toBe(1);
    expect(forced.stderr).toMatch(/^frontdesk: forbidden: /);
    const exported = await run(["sessions", "export", "a1", ...remote()]);
    const imported = await run(["sessions", "import", ...remote(bobKey), "--id", "stolen"], { stdin: exported.stdout });
    expect(imported.code).toBe(1);
    expect(imported.stderr).toMatch(/^frontdesk: forbidden: /);
    const own = await run(["sessions", "import", ...remote(bobKey), "--id", "mine", "--user", "bob"], {
      stdin: exported.stdout,
    });
    expect(own).toMatchObject({ code: 0, stdout: "mine\n" });
  });

  it("asks for --user on an ambiguous id, and deletes", async () => {
    const ambiguous = await run(["sessions", "rm", "same", ...remote()]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/--user/);
    const removed = await run(["sessions", "rm", "same", ...remote(), "--user", "bob"]);
    expect(removed).toMatchObject({ code: 0, stderr: "deleted session same\n" });
    const gone = await run(["sessions", "rm", "same", ...remote(), "--user", "bob"]);
    expect(gone).toMatchObject({ code: 1, stderr: "frontdesk: not_found: Session not found\n" });
  });

  it("reads $FRONTDESK_SERVER and $FRONTDESK_KEY", async () => {
    const result = await run(["sessions", "list", "--json"], {
      env: { FRONTDESK_SERVER: server.url, FRONTDESK_KEY: bobKey },
    });
    expect(result.code).toBe(0);
    expect(lines(result.stdout).every((line) => JSON.parse(line).userId === "bob")).toBe(true);
    // --store wins over $FRONTDESK_SERVER.
    const direct = await run(["sessions", "list", "--store", temp.url, "--json"], {
      env: { FRONTDESK_SERVER: "http://127.0.0.1:1", FRONTDESK_KEY: "x" },
    });
    expect(direct.code).toBe(0);
  });

  it("reports a bad key, an unreachable server and a bad URL in one line", async () => {
    const badKey = await run(["sessions", "list", ...remote("fd_nope")]);
    expect(badKey.code).toBe(1);
    expect(lines(badKey.stderr)).toEqual([expect.stringMatching(/^frontdesk: unauthorized: /)]);

    const unreachable = await run(["sessions", "list", "--server", "http://127.0.0.1:1", "--key", admin]);
    expect(unreachable.code).toBe(1);
    expect(lines(unreachable.stderr)).toEqual([
      "frontdesk: unavailable: Could not reach the Frontdesk server at http://127.0.0.1:1",
    ]);

    const badUrl = await run(["sessions", "list", "--server", "ftp://x", "--key", admin]);
    expect(badUrl.code).toBe(2);
    expect(lines(badUrl.stderr)).toEqual([expect.stringMatching(/^frontdesk: invalid_request: /)]);

    const namespace = await run(["sessions", "list", ...remote(), "--namespace", "x"]);
    expect(namespace.code).toBe(2);
    expect(namespace.stderr).toMatch(/^frontdesk: usage: --namespace applies to --store only/);
  });
});
