import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lines, tempStore, withManager } from "./harness.ts";
import { assertBuilt, runCli } from "./processes.ts";

const temp = tempStore();
beforeAll(async () => {
  assertBuilt();
  await withManager(temp.url, async (manager) => {
    await manager.create({ sessionId: "big", userId: "u", title: "Big" });
    const batch = Array.from({ length: 500 }, (_, i) => ({
      type: "message",
      role: i % 2 === 0 ? "user" : "assistant",
      content: `${"x".repeat(300)} ${i}`,
    }));
    for (let i = 0; i < 4; i++) await manager.appendEvents({ id: "big", userId: "u" }, batch);
  });
});
afterAll(() => temp.remove());

// In a fresh process the store's driver is loaded between opening the input and reading it: the
// case where a line reader created too early loses the first chunk.
describe("export and import in a real process", () => {
  it("round-trips a multi-chunk export through a file and through a pipe", async () => {
    const file = join(temp.dir, "big.ndjson");
    const exported = await runCli(["sessions", "export", "big", "--store", temp.url, "--out", file]);
    expect(exported).toMatchObject({ code: 0, stdout: "", stderr: `exported 2000 events to ${file}\n` });
    const text = readFileSync(file, "utf8");
    expect(text.length).toBeGreaterThan(256 * 1024);

    const fromFile = await runCli(["sessions", "import", file, "--store", temp.url, "--id", "from-file"]);
    expect(fromFile).toMatchObject({ code: 0, stdout: "from-file\n" });
    expect(fromFile.stderr).toBe("imported 2000 events into session from-file\n");

    const fromPipe = await runCli(["sessions", "import", "-", "--store", temp.url, "--id", "from-pipe"], {}, text);
    expect(fromPipe).toMatchObject({ code: 0, stdout: "from-pipe\n" });

    const again = await runCli(["sessions", "export", "from-pipe", "--store", temp.url]);
    expect(again.code).toBe(0);
    const events = (ndjson: string) => lines(ndjson).slice(1);
    expect(events(again.stdout)).toEqual(events(text));
  });

  it("fails in one line, without a stack, when the session is missing", async () => {
    const result = await runCli(["sessions", "export", "nope", "--store", temp.url]);
    expect(result).toMatchObject({ code: 1, stdout: "", stderr: "frontdesk: not_found: Session not found\n" });
  });
});
