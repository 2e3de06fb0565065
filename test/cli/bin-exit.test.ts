import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, runCli } from "./processes.ts";

const dir = mkdtempSync(join(tmpdir(), "fd-bin-exit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => assertBuilt());

describe("the frontdesk bin", () => {
  it("exits after the command ends even when a library left a handle open, naming what was open", async () => {
    // Plays a library that keeps a listening socket after the command has closed everything of its own.
    const linger = join(dir, "linger.cjs");
    writeFileSync(linger, 'require("node:net").createServer().listen(0, "127.0.0.1");\n');
    const { code, stdout, stderr } = await runCli(["--version"], { NODE_OPTIONS: `--require ${linger}` });
    expect(code).toBe(0);
    expect(stdout).toMatch(/\d+\.\d+\.\d+/);
    expect(stderr).toMatch(/frontdesk: exiting 3000 ms after the command ended; still open: .*TCPServerWrap/);
  });

  it("says nothing of the kind when the command leaves nothing open", async () => {
    const { code, stderr } = await runCli(["--version"]);
    expect(code).toBe(0);
    expect(stderr).not.toContain("still open");
  });
});
