import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { createSessionManager } from "../../src/index.ts";
import { assertBuilt } from "../cli/processes.ts";

const root = resolve(import.meta.dirname, "../..");

describe("examples/adapters/adk.mjs", () => {
  it("runs as written against the built package and leaves a Frontdesk session behind", async () => {
    assertBuilt();
    const cwd = mkdtempSync(join(tmpdir(), "fd-adk-example-"));
    try {
      const run = () =>
        execFileSync(process.execPath, [join(root, "examples/adapters/adk.mjs")], { cwd, encoding: "utf8" });
      const out = run();
      expect(out).toContain("echo: You said: hello");
      expect(out).toContain("echo: You said: still there?");
      expect(out).toContain("4 events; { lastReply: 'You said: still there?', 'user:name': 'Ada' }");
      // A second run is a new session; the first one is still in the file, as Frontdesk sees it.
      run();
      const sessions = await createSessionManager({ store: `sqlite:${join(cwd, ".frontdesk/adk-example.db")}` });
      const page = await sessions.forNamespace("echo-app").forUser("ada").listSessions();
      expect(page.items).toHaveLength(2);
      const events = await sessions
        .forNamespace("echo-app")
        .forUser("ada")
        .readEvents(page.items[0]?.id as string);
      expect(events.filter((event) => event.type === "message").map((event) => event.role)).toEqual([
        "user",
        "assistant",
        "user",
        "assistant",
      ]);
      await sessions.store.close();
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
