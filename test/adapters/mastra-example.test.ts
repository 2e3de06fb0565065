/** examples/adapters/mastra.mjs runs as written (against the built package) and shows the thread as a Frontdesk session. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { assertBuilt } from "../cli/processes.ts";

const root = resolve(import.meta.dirname, "../..");
beforeAll(() => assertBuilt());

it("examples/adapters/mastra.mjs recalls the first turn in the second and lists the thread's messages", () => {
  const cwd = mkdtempSync(join(tmpdir(), "fd-mastra-example-"));
  try {
    const out = execFileSync(process.execPath, [join(root, "examples/adapters/mastra.mjs")], { cwd, encoding: "utf8" });
    expect(out.split("\n").filter(Boolean)).toEqual([
      "reply 1, after 1 messages",
      "reply 2, after 3 messages",
      "2 user Find me a hotel in Lisbon.",
      "3 assistant reply 1, after 1 messages",
      "4 user Near the river, please.",
      "5 assistant reply 2, after 3 messages",
    ]);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
