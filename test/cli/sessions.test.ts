import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { openStore } from "../../src/stores/registry.ts";
import { lines, run, tempStore, withManager } from "./harness.ts";

const temp = tempStore();
const store = ["--store", temp.url];

beforeAll(async () => {
  await withManager(temp.url, async (manager) => {
    await manager.create({ sessionId: "s1", userId: "alice", title: "Trip planning", tags: ["travel", "vip"] });
    await manager.addMessage({ id: "s1", userId: "alice" }, { role: "user", content: "Find me a flight to Lisbon" });
    await manager.linkInvocation(
      { id: "s1", userId: "alice" },
      { tool: "search_flights", input: { to: "LIS" }, output: { count: 3 }, durationMs: 120 },
    );
    await manager.addMessage(
      { id: "s1", userId: "alice" },
      { role: "assistant", content: "I found 3 flights.", usage: { inputTokens: 50, outputTokens: 10 } },
    );
    await manager.create({ sessionId: "s2", userId: "bob", title: "Refund", tags: ["billing"] });
    await manager.completeSession({ id: "s2", userId: "bob" });
    await manager.create({ sessionId: "twin", userId: "alice", title: "Alice's twin" });
    await manager.create({ sessionId: "twin", userId: "bob", title: "Bob's twin" });
    for (let i = 0; i < 5; i++) await manager.create({ sessionId: `bulk-${i}`, userId: "carol", tags: ["bulk"] });
  });
});

afterAll(() => temp.remove());

describe("sessions list", () => {
  it("prints an aligned table with a heading", async () => {
    const result = await run(["sessions", "list", ...store]);
    expect(result.code).toBe(0);
    const rows = lines(result.stdout);
    expect(rows[0]).toMatch(/^ID\s+USER\s+STATUS\s+EVENTS\s+UPDATED\s+TAGS\s+TITLE$/);
    expect(rows).toHaveLength(1 + 9);
    const s1 = rows.find((row) => row.startsWith("s1 "));
    expect(s1).toMatch(/^s1\s+alice\s+active\s+4\s+\S+Z\s+travel,vip\s+Trip planning$/);
    // aligned: every row's USER column starts at the same offset as the heading's
    const offset = rows[0]!.indexOf("USER");
    for (const row of rows.slice(1)) expect(row.slice(offset - 2, offset)).toBe("  ");
  });

  it("prints JSON lines with --json and filters by user, status, tag and text", async () => {
    const byUser = await run(["sessions", "list", ...store, "--user", "bob", "--json"]);
    expect(byUser.code).toBe(0);
    const bob = lines(byUser.stdout).map((line) => JSON.parse(line));
    expect(bob.map((s) => s.id).sort()).toEqual(["s2", "twin"]);
    expect(bob.every((s) => s.userId === "bob")).toBe(true);

    const completed = await run(["sessions", "list", ...store, "--status", "completed", "--json"]);
    expect(lines(completed.stdout).map((line) => JSON.parse(line).id)).toEqual(["s2"]);

    const tagged = await run(["sessions", "list", ...store, "--tag", "travel", "--tag", "vip", "--json"]);
    expect(lines(tagged.stdout).map((line) => JSON.parse(line).id)).toEqual(["s1"]);

    const text = await run(["sessions", "list", ...store, "--query", "TWIN", "--json"]);
    expect(lines(text.stdout)).toHaveLength(2);
  });

  it("pages with --limit and --cursor, the cursor on stderr", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const result = await run([
        "sessions",
        "list",
        ...store,
        "--tag",
        "bulk",
        "--limit",
        "2",
        "--json",
        ...(cursor ? ["--cursor", cursor] : []),
      ]);
      expect(result.code).toBe(0);
      seen.push(...lines(result.stdout).map((line) => JSON.parse(line).id));
      cursor = /more: --cursor (\S+)/.exec(result.stderr)?.[1];
      if (!cursor) break;
    }
    expect(seen.sort()).toEqual(["bulk-0", "bulk-1", "bulk-2", "bulk-3", "bulk-4"]);
  });

  it("says so on stderr when nothing matches, and keeps stdout empty", async () => {
    const result = await run(["sessions", "list", ...store, "--user", "nobody"]);
    expect(result).toMatchObject({ code: 0, stdout: "" });
    expect(result.stderr).toBe("no sessions\n");
  });

  it("refuses a bad status or limit with exit 2 and one line", async () => {
    const status = await run(["sessions", "list", ...store, "--status", "sleeping"]);
    expect(status.code).toBe(2);
    expect(lines(status.stderr)).toEqual([expect.stringMatching(/^frontdesk: usage: Unknown status "sleeping"/)]);
    const limit = await run(["sessions", "list", ...store, "--limit", "0"]);
    expect(limit.code).toBe(2);
    expect(lines(limit.stderr)).toHaveLength(1);
    expect(limit.stderr).toMatch(/--limit/);
    const cursor = await run(["sessions", "list", ...store, "--cursor", "garbage"]);
    expect(cursor.code).toBe(2);
    expect(cursor.stderr).toMatch(/^frontdesk: invalid_request: /);
  });
});

describe("sessions show", () => {
  it("shows header, state, stats and the last events readably", async () => {
    const result = await run(["sessions", "show", "s1", ...store, "--user", "alice"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^id\s+s1$/m);
    expect(result.stdout).toMatch(/^user\s+alice$/m);
    expect(result.stdout).toMatch(/^tags\s+travel, vip$/m);
    expect(result.stdout).toMatch(/^state:$/m);
    expect(result.stdout).toMatch(/^\s+messages\s+2$/m);
    expect(result.stdout).toMatch(/^\s+toolsUsed\s+search_flights$/m);
    expect(result.stdout).toMatch(/events #1-#4 of 4:/);
    expect(result.stdout).toMatch(/#1\s+\S+Z\s+message\s+user: Find me a flight to Lisbon/);
    expect(result.stdout).toMatch(/#2\s+\S+Z\s+tool_call\s+search_flights \{"to":"LIS"\}/);
    expect(result.stdout).toMatch(/#3\s+\S+Z\s+tool_result\s+search_flights success in 120ms/);
  });

  it("limits events with --events and finds the owner without --user", async () => {
    const result = await run(["sessions", "show", "s1", ...store, "--events", "1"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/events #4-#4 of 4:/);
    expect(result.stdout).not.toMatch(/#1\s/);
  });

  it("prints one JSON object with --json", async () => {
    const result = await run(["sessions", "show", "s1", ...store, "--json", "--events", "2"]);
    expect(result.code).toBe(0);
    const shown = JSON.parse(result.stdout);
    expect(shown.session).toMatchObject({ id: "s1", userId: "alice", lastSeq: 4 });
    expect(shown.events.map((e: { seq: number }) => e.seq)).toEqual([3, 4]);
  });

  it("asks for --user when two owners have the id", async () => {
    const result = await run(["sessions", "show", "twin", ...store]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([expect.stringMatching(/^frontdesk: invalid_request: .*--user/)]);
    const bob = await run(["sessions", "show", "twin", ...store, "--user", "bob", "--json"]);
    expect(JSON.parse(bob.stdout).session.title).toBe("Bob's twin");
  });

  it("fails with not_found and exit 1 for a missing session, another owner's included", async () => {
    const missing = await run(["sessions", "show", "nope", ...store]);
    expect(missing).toMatchObject({ code: 1, stdout: "", stderr: "frontdesk: not_found: Session not found\n" });
    const wrongOwner = await run(["sessions", "show", "s1", ...store, "--user", "bob"]);
    expect(wrongOwner).toMatchObject({ code: 1, stderr: "frontdesk: not_found: Session not found\n" });
  });
});

describe("sessions stats", () => {
  it("prints the statistics as a table or JSON", async () => {
    const table = await run(["sessions", "stats", "s1", ...store]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^messages\s+2$/m);
    expect(table.stdout).toMatch(/^toolCalls\s+1$/m);
    expect(table.stdout).toMatch(/^inputTokens\s+50$/m);
    const json = await run(["sessions", "stats", "s1", ...store, "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ messages: 2, toolCalls: 1, outputTokens: 10, durationMs: 120 });
  });
});

describe("sessions export and import", () => {
  it("round-trips a session through NDJSON on stdout and stdin", async () => {
    const exported = await run(["sessions", "export", "s1", ...store]);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toBe("exported 4 events\n");
    const ndjson = lines(exported.stdout);
    expect(ndjson).toHaveLength(5);
    expect(JSON.parse(ndjson[0]!)).toMatchObject({ kind: "session", session: { id: "s1", lastSeq: 4 } });

    const imported = await run(["sessions", "import", "-", ...store, "--id", "s1-copy"], { stdin: exported.stdout });
    expect(imported.code).toBe(0);
    expect(imported.stdout).toBe("s1-copy\n");
    expect(imported.stderr).toBe("imported 4 events into session s1-copy\n");

    const again = await run(["sessions", "export", "s1-copy", ...store]);
    const strip = (line: string) => {
      const record = JSON.parse(line);
      if (record.kind === "session")
        return { ...record, session: { ...record.session, id: "x", version: 0, lastAccessedAt: 0, expiresAt: 0 } };
      return record;
    };
    expect(lines(again.stdout).map(strip)).toEqual(ndjson.map(strip));
  });

  it("writes --out FILE whole and imports from a file", async () => {
    const file = join(temp.dir, "s2.ndjson");
    const exported = await run(["sessions", "export", "s2", ...store, "--out", file]);
    expect(exported).toMatchObject({ code: 0, stdout: "" });
    expect(exported.stderr).toBe(`exported 1 events to ${file}\n`);
    expect(JSON.parse(readFileSync(file, "utf8").split("\n")[0]!).session.id).toBe("s2");

    const taken = await run(["sessions", "import", file, ...store]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/^frontdesk: conflict: /);

    const imported = await run(["sessions", "import", file, ...store, "--id", "s2-copy"]);
    expect(imported).toMatchObject({ code: 0, stdout: "s2-copy\n" });
  });

  it("leaves no file behind when the export fails", async () => {
    const file = join(temp.dir, "missing.ndjson");
    const result = await run(["sessions", "export", "nope", ...store, "--out", file]);
    expect(result).toMatchObject({ code: 1, stderr: "frontdesk: not_found: Session not found\n" });
    expect(() => readFileSync(file)).toThrow();
  });

  it("refuses input that is not an export, and a missing file, with exit 2", async () => {
    const bad = join(temp.dir, "bad.ndjson");
    writeFileSync(bad, '{"hello": "world"}\n');
    const notExport = await run(["sessions", "import", bad, ...store]);
    expect(notExport.code).toBe(2);
    expect(lines(notExport.stderr)).toEqual([expect.stringMatching(/^frontdesk: invalid_request: Line 1 /)]);

    const missing = await run(["sessions", "import", join(temp.dir, "absent.ndjson"), ...store]);
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toEqual([expect.stringMatching(/^frontdesk: usage: Cannot read .*ENOENT/)]);

    const noStdin = await run(["sessions", "import", ...store]);
    expect(noStdin.code).toBe(2);
  });

  it("draws a progress bar when stderr is a TTY, and still prints the summary", async () => {
    const exported = await run(["sessions", "export", "s1", ...store], { tty: true });
    expect(exported.code).toBe(0);
    expect(lines(exported.stdout)).toHaveLength(5);
    expect(exported.stderr).toMatch(/exporting/);
    expect(exported.stderr).toMatch(/exported 4 events\n$/);

    const imported = await run(["sessions", "import", "-", ...store, "--id", "s1-tty"], {
      stdin: exported.stdout,
      tty: true,
    });
    expect(imported.code).toBe(0);
    expect(imported.stderr).toMatch(/importing/);
    expect(imported.stderr).toMatch(/imported 4 events into session s1-tty\n$/);
  });
});

describe("sessions rm", () => {
  it("deletes a session, then reports not_found", async () => {
    await withManager(temp.url, (manager) => manager.create({ sessionId: "doomed", userId: "dave" }));
    const removed = await run(["sessions", "rm", "doomed", ...store]);
    expect(removed).toMatchObject({ code: 0, stdout: "", stderr: "deleted session doomed\n" });
    const again = await run(["sessions", "rm", "doomed", ...store, "--user", "dave"]);
    expect(again).toMatchObject({ code: 1, stderr: "frontdesk: not_found: Session not found\n" });
  });
});

describe("sessions gc", () => {
  it("sweeps expired sessions and, with --older-than, old ones", async () => {
    const gc = tempStore();
    try {
      const day = 86_400_000;
      const clock = new FakeClock(Date.now() - 40 * day);
      const store40 = await openStore(gc.url);
      const past = new SessionManager(() => ({}), store40, "default", { clock, defaultTtlMs: null });
      await past.create({ sessionId: "expired", userId: "u", ttlMs: 60_000 });
      await past.create({ sessionId: "ancient", userId: "u" });
      await store40.close();
      await withManager(gc.url, (manager) => manager.create({ sessionId: "fresh", userId: "u" }));

      const sweep = await run(["sessions", "gc", "--store", gc.url]);
      expect(sweep).toMatchObject({ code: 0, stdout: "", stderr: "swept 1 expired sessions\n" });

      const retention = await run(["sessions", "gc", "--store", gc.url, "--older-than", "30d"]);
      expect(retention.code).toBe(0);
      expect(lines(retention.stderr)).toEqual(["swept 0 expired sessions", "removed 1 sessions not updated for 30d"]);
      const left = await run(["sessions", "list", "--store", gc.url, "--json"]);
      expect(lines(left.stdout).map((line) => JSON.parse(line).id)).toEqual(["fresh"]);
    } finally {
      gc.remove();
    }
  });

  it("refuses a malformed age and --server", async () => {
    for (const age of ["30", "thirty days", "5y", ""]) {
      const result = await run(["sessions", "gc", ...store, "--older-than", age]);
      expect(result.code).toBe(2);
      expect(lines(result.stderr)).toHaveLength(1);
    }
    const remote = await run(["sessions", "gc", "--server", "http://127.0.0.1:1", "--key", "k"]);
    expect(remote.code).toBe(2);
    expect(remote.stderr).toMatch(/^frontdesk: usage: gc works on a store/);
  });
});

describe("choosing a store", () => {
  it("reads $FRONTDESK_STORE when --store is not given", async () => {
    const result = await run(["sessions", "list", "--json", "--user", "alice"], { env: { FRONTDESK_STORE: temp.url } });
    expect(result.code).toBe(0);
    expect(lines(result.stdout).length).toBeGreaterThan(0);
  });

  it("uses --namespace to pick a namespace", async () => {
    await withManager(temp.url, (manager) => manager.create({ sessionId: "elsewhere", userId: "alice" }), "other");
    const other = await run(["sessions", "list", ...store, "--namespace", "other", "--json"]);
    expect(lines(other.stdout).map((line) => JSON.parse(line).id)).toEqual(["elsewhere"]);
    const bad = await run(["sessions", "list", ...store, "--namespace", "../etc"]);
    expect(bad.code).toBe(2);
  });

  it("reports an unknown scheme, and --store with --server, in one line", async () => {
    const scheme = await run(["sessions", "list", "--store", "mongodb://x"]);
    expect(scheme.code).toBe(2);
    expect(lines(scheme.stderr)).toEqual([
      expect.stringMatching(/^frontdesk: invalid_request: Unknown store scheme "mongodb:"/),
    ]);
    const both = await run(["sessions", "list", ...store, "--server", "http://127.0.0.1:1"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe("frontdesk: usage: Use either --store or --server, not both\n");
    const noKey = await run(["sessions", "list", "--server", "http://127.0.0.1:1"]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/FRONTDESK_KEY/);
  });
});

describe("gc on a terminal", () => {
  it("draws progress on stderr and still prints the summaries", async () => {
    const result = await run(["sessions", "gc", ...store, "--older-than", "3650d"], { tty: true });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/sweeping expired/);
    expect(result.stderr).toMatch(/swept 0 expired sessions\n/);
    expect(result.stderr).toMatch(/removed 0 sessions not updated for 3650d\n$/);
  });
});

describe("large exports", () => {
  it("imports a multi-chunk export from a file and from stdin without losing a line", async () => {
    const big = tempStore();
    try {
      await withManager(big.url, async (manager) => {
        await manager.create({ sessionId: "big", userId: "u" });
        const batch = Array.from({ length: 500 }, (_, i) => ({
          type: "message",
          role: "user",
          content: `${"x".repeat(300)} ${i}`,
        }));
        for (let i = 0; i < 4; i++) await manager.appendEvents({ id: "big", userId: "u" }, batch);
      });
      const file = join(big.dir, "big.ndjson");
      const exported = await run(["sessions", "export", "big", "--store", big.url, "--out", file]);
      expect(exported.stderr).toBe(`exported 2000 events to ${file}\n`);
      expect(readFileSync(file).length).toBeGreaterThan(256 * 1024);

      const fromFile = await run(["sessions", "import", file, "--store", big.url, "--id", "big-file"]);
      expect(fromFile).toMatchObject({ code: 0, stdout: "big-file\n" });
      const fromStdin = await run(["sessions", "import", "--store", big.url, "--id", "big-stdin"], {
        stdin: readFileSync(file, "utf8"),
      });
      expect(fromStdin).toMatchObject({ code: 0, stdout: "big-stdin\n" });
      const stats = await run(["sessions", "stats", "big-stdin", "--store", big.url, "--json"]);
      expect(JSON.parse(stats.stdout).messages).toBe(2000);
    } finally {
      big.remove();
    }
  });
});
