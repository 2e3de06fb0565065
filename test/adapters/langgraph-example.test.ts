/**
 * examples/adapters/langgraph.mjs runs as written against the built package (it imports
 * "frontdesk/adapters/langgraph", which resolves to dist/), and docs/adapters/langgraph.md shows it
 * exactly.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { createSessionManager } from "../../src/index.ts";

const root = resolve(import.meta.dirname, "../..");
const example = join(root, "examples/adapters/langgraph.mjs");
const built = join(root, "dist/adapters/langgraph/index.js");

describe("the LangGraph adapter example", () => {
  it("is the docs' example, and runs: two turns stored as a titled Frontdesk session of alice's", async () => {
    const docs = readFileSync(join(root, "docs/adapters/langgraph.md"), "utf8");
    expect(docs).toContain(readFileSync(example, "utf8").trim());
    try {
      readFileSync(built);
    } catch {
      throw new Error(`${built} is missing: run \`npx tsc -p tsconfig.build.json\` (or \`npm run build\`) first`);
    }
    const cwd = mkdtempSync(join(tmpdir(), "fd-lg-example-"));
    try {
      const out = execFileSync(process.execPath, [example], { cwd, encoding: "utf8", timeout: 60_000 });
      expect(out).toContain(
        "What is Lisbon like? | Lisbon is hilly, with old trams. | How do I get around? | Take tram 28.",
      );
      expect(out).toContain("What is Lisbon like? 4");
      const sessions = await createSessionManager({ store: `sqlite:${join(cwd, ".frontdesk/langgraph.db")}` });
      const messages = await sessions.forUser("alice").getMessages("trip");
      expect(messages.map((m) => (m.type === "message" ? m.role : m.type))).toEqual([
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
