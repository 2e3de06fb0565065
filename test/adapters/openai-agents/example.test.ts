/**
 * examples/adapters/openai-agents.mjs runs as written (importing `frontdesk/adapters/openai-agents`,
 * which resolves to this package's dist/), and its conversation is a Frontdesk session that a
 * second run of the script continues.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createSessionManager } from "../../../src/index.ts";

const ROOT = resolve(import.meta.dirname, "../../..");
const EXAMPLE = join(ROOT, "examples/adapters/openai-agents.mjs");

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("examples/adapters/openai-agents.mjs", () => {
  it("runs a tool turn into an SQLite session, pops the answer, and a second run continues it", async () => {
    if (!existsSync(join(ROOT, "dist/adapters/openai-agents/index.js"))) {
      throw new Error("dist/adapters/openai-agents is missing: build with `npx tsc -p tsconfig.build.json` first");
    }
    const cwd = mkdtempSync(join(tmpdir(), "fd-openai-agents-example-"));
    cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
    const first = execFileSync(process.execPath, [EXAMPLE], { cwd, encoding: "utf8" });
    expect(first).toContain("It is sunny in Lisbon.");
    expect(first).toContain("[ 'message', 'function_call', 'function_call_result', 'message' ]");
    expect(first).toContain("popped: It is sunny in Lisbon.");
    expect(first).toContain("left: 3");
    const second = execFileSync(process.execPath, [EXAMPLE], { cwd, encoding: "utf8" });
    expect(second).toContain("left: 6");

    const sessions = await createSessionManager({ store: `sqlite:${join(cwd, ".frontdesk/agents.db")}` });
    cleanups.push(() => sessions.store.close());
    const alice = sessions.forUser("alice");
    const events = await alice.readEvents("chat-42");
    expect(events.map((event) => event.type)).toEqual([
      ...["message", "tool_call", "tool_result", "message", "custom"],
      ...["message", "tool_call", "tool_result", "message", "custom"],
    ]);
    expect(events[0]).toMatchObject({ role: "user", content: "What is the weather in Lisbon?" });
    expect((await alice.get("chat-42")).stats).toMatchObject({ toolCalls: 2, toolsUsed: ["get_weather"] });
  });
});
