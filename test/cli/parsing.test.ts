import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadServeConfig } from "../../src/cli/config.ts";
import { formatDuration, parseDuration } from "../../src/cli/durations.ts";
import { describeFailure, UsageError } from "../../src/cli/failures.ts";
import { FrontdeskError } from "../../src/core/errors.ts";
import { lines, run, tempStore } from "./harness.ts";

const temp = tempStore();
afterAll(() => temp.remove());

describe("durations", () => {
  it("parses units and sums parts", () => {
    expect(parseDuration("30d")).toBe(30 * 86_400_000);
    expect(parseDuration("12h")).toBe(12 * 3_600_000);
    expect(parseDuration("15m")).toBe(15 * 60_000);
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("2w")).toBe(14 * 86_400_000);
    expect(parseDuration("1d12h")).toBe(36 * 3_600_000);
    expect(parseDuration("1.5h")).toBe(90 * 60_000);
  });

  it("refuses bare numbers, unknown units and junk", () => {
    for (const text of ["30", "", "d", "5y", "30 d", "30d junk", "-1d", "1e3d"]) {
      expect(() => parseDuration(text), text).toThrow(UsageError);
    }
  });

  it("formats for people", () => {
    expect(formatDuration(30 * 86_400_000)).toBe("30d");
    expect(formatDuration(36 * 3_600_000 + 60_000)).toBe("1d 12h");
    expect(formatDuration(500)).toBe("500ms");
  });
});

describe("failures", () => {
  it("keeps wire codes and maps exit codes", () => {
    expect(describeFailure(new FrontdeskError("not_found", "Session not found"))).toEqual({
      exitCode: 1,
      line: "frontdesk: not_found: Session not found",
    });
    expect(describeFailure(new FrontdeskError("invalid_request", "bad\nthing")).exitCode).toBe(2);
    expect(describeFailure(new FrontdeskError("invalid_request", "bad\nthing")).line).toBe(
      "frontdesk: invalid_request: bad thing",
    );
    expect(describeFailure(new UsageError("nope"))).toEqual({ exitCode: 2, line: "frontdesk: usage: nope" });
    expect(describeFailure(new Error("boom"))).toEqual({ exitCode: 1, line: "frontdesk: internal: boom" });
  });
});

describe("serve config files", () => {
  const write = (name: string, value: unknown): string => {
    const file = join(temp.dir, name);
    writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value));
    return file;
  };

  it("accepts server options and leaves the agent side's keys alone", async () => {
    const file = write("ok.json", {
      namespace: "prod",
      defaultTtlSeconds: 600,
      logLevel: "warn",
      limits: { maxBodyBytes: 2048, requestsPerSecond: null, maxEventBytes: 1000 },
      agents: { helper: { model: "offline" } },
    });
    await expect(loadServeConfig(file)).resolves.toMatchObject({ namespace: "prod", defaultTtlSeconds: 600 });
  });

  it("names the bad path in every error", async () => {
    const cases: [unknown, RegExp][] = [
      [{ limits: { maxBodyBytes: -1 } }, /limits\.maxBodyBytes: /],
      [{ limits: { maxBodyByte: 10 } }, /limits: .*maxBodyByte/],
      [{ namepsace: "x" }, /\(top level\): .*namepsace/],
      [{ namespace: "../x" }, /namespace: must match/],
      [{ logLevel: "loud" }, /logLevel: /],
      [{ defaultTtlSeconds: 1.5 }, /defaultTtlSeconds: /],
      [{ port: 70000 }, /port: /],
    ];
    for (const [value, pattern] of cases) {
      const file = write("bad.json", value);
      await expect(loadServeConfig(file), JSON.stringify(value)).rejects.toThrow(pattern);
    }
    await expect(loadServeConfig(write("text.json", "{ nope"))).rejects.toThrow(/is not JSON/);
    await expect(loadServeConfig(join(temp.dir, "absent.json"))).rejects.toThrow(/ENOENT/);
  });

  it("makes serve fail with one line and exit 2 before opening anything", async () => {
    const file = write("bad-serve.json", { limits: { maxBodyBytes: 0 } });
    const result = await run(["serve", "--config", file, "--store", temp.url, "--port", "0"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      expect.stringMatching(/^frontdesk: usage: Invalid config .*limits\.maxBodyBytes/),
    ]);
    expect(result.stdout).toBe("");
  });
});

describe("argument handling", () => {
  it("gives one line and exit 2 for a command line it cannot use", async () => {
    const cases: [string[], RegExp][] = [
      [[], /^frontdesk: usage: missing command/],
      [["sessions"], /^frontdesk: usage: missing command; see frontdesk sessions --help$/],
      [["keys"], /^frontdesk: usage: missing command; see frontdesk keys --help$/],
      [["nope"], /^frontdesk: usage: unknown command 'nope'$/],
      [["sessions", "lst"], /^frontdesk: usage: unknown command 'lst' \(Did you mean list\?\)$/],
      [["sessions", "list", "--limt", "3"], /^frontdesk: usage: unknown option '--limt' \(Did you mean --limit\?\)$/],
      [["sessions", "show"], /^frontdesk: usage: missing required argument 'id'$/],
      [["sessions", "show", "a", "b"], /^frontdesk: usage: too many arguments/],
      [["serve", "--port", "http"], /^frontdesk: usage: option '--port <n>' argument 'http' is invalid/],
      [["serve", "--port", "65536"], /^frontdesk: usage: option '--port <n>' argument '65536' is invalid/],
    ];
    for (const [argv, pattern] of cases) {
      const result = await run(argv);
      expect(result.code, argv.join(" ")).toBe(2);
      expect(result.stdout, argv.join(" ")).toBe("");
      expect(lines(result.stderr), argv.join(" ")).toEqual([expect.stringMatching(pattern)]);
    }
  });

  it("prints help and the version on stdout with exit 0", async () => {
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: frontdesk/);
    expect(help.stdout).toMatch(/serve/);
    const sub = await run(["sessions", "list", "--help"]);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/--status/);
    const version = await run(["--version"]);
    expect(version).toMatchObject({ code: 0, stderr: "" });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("prints the stack only with --debug", async () => {
    const plain = await run(["sessions", "show", "nope", "--store", "mongodb://x"]);
    expect(lines(plain.stderr)).toHaveLength(1);
    const debug = await run(["sessions", "show", "nope", "--store", "mongodb://x", "--debug"]);
    expect(debug.code).toBe(2);
    const debugLines = lines(debug.stderr);
    expect(debugLines[0]).toBe(lines(plain.stderr)[0]);
    expect(debugLines.length).toBeGreaterThan(2);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it("rejects a bad $FRONTDESK_PORT as usage", async () => {
    const result = await run(["serve", "--store", temp.url], { env: { FRONTDESK_PORT: "eighty" } });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('frontdesk: usage: FRONTDESK_PORT="eighty" is not a port (0-65535)\n');
  });
});

describe("serve environment", () => {
  it("rejects a bad $FRONTDESK_LOG_LEVEL as usage", async () => {
    const result = await run(["serve", "--store", temp.url, "--port", "0"], { env: { FRONTDESK_LOG_LEVEL: "loud" } });
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([expect.stringMatching(/^frontdesk: usage: FRONTDESK_LOG_LEVEL="loud"/)]);
  });

  it("fails in one line when the store cannot be opened", async () => {
    // The database's folder would be inside a regular file.
    const file = join(temp.dir, "not-a-dir");
    writeFileSync(file, "");
    const result = await run(["serve", "--store", `sqlite:${file}/x.db`, "--port", "0"]);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe("");
    expect(lines(result.stderr)).toEqual([expect.stringMatching(/^frontdesk: \w+: /)]);
  });
});
