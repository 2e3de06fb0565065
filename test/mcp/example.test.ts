import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { openStore } from "../../src/stores/registry.ts";
import { call, scratch, textOf } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EXAMPLE = join(ROOT, "examples/mcp-tool-server/index.mjs");

describe("examples/mcp-tool-server", () => {
  const dir = scratch("fd-mcp-example-");
  afterAll(() => dir.remove());

  it("records both tools' calls, with statuses and durations, in the session named by session_id", async () => {
    if (!existsSync(join(ROOT, "dist/mcp/index.js"))) {
      throw new Error("dist/mcp is missing: run `npm run build` first (npm test does it in pretest)");
    }
    const storeUrl = `sqlite:${join(dir.dir, "tools.db")}`;
    const transport = new StdioClientTransport({
      command: process.execPath,
      // `frontdesk` and `frontdesk/mcp` resolve to this package's own dist/ (package self-reference).
      args: [EXAMPLE],
      cwd: dir.dir,
      env: { PATH: process.env.PATH ?? "", FRONTDESK_STORE: storeUrl },
      stderr: "pipe",
    });
    let stderr = "";
    transport.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const client = new Client({ name: "example-test", version: "1.0.0" });
    await client.connect(transport);

    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["reverse_text", "word_count"]);
    for (const tool of tools) expect(Object.keys(tool.inputSchema.properties ?? {})).toContain("session_id");

    const counted = await call(client, "word_count", { text: "the quick brown fox\njumps", session_id: "demo-1" });
    expect(counted.structuredContent).toEqual({ words: 5, lines: 2, characters: 25 });
    const reversed = await call(client, "reverse_text", { text: "hello world", by: "words", session_id: "demo-1" });
    expect(textOf(reversed)).toBe("world hello");
    const refused = await call(client, "reverse_text", { text: "   ", session_id: "demo-1" });
    expect(refused.isError).toBe(true);
    await client.close();
    expect(stderr).toContain("word-tools: ready on stdio");

    const store = await openStore(storeUrl);
    try {
      const sessions = new SessionManager(() => ({}), store).forUser("local");
      const session = await sessions.get("demo-1");
      expect(session.purpose).toBe("MCP tool calls");
      expect(session.stats).toMatchObject({ toolCalls: 3, toolErrors: 1, toolsUsed: ["word_count", "reverse_text"] });
      const results = (await sessions.readEvents("demo-1", { types: ["tool_result"] })) as (SessionEvent & {
        type: "tool_result";
      })[];
      expect(results.map((r) => [r.tool, r.status])).toEqual([
        ["word_count", "success"],
        ["reverse_text", "success"],
        ["reverse_text", "error"],
      ]);
      expect(results[0]?.input).toEqual({ text: "the quick brown fox\njumps" });
      expect(results[2]?.error?.message).toBe("Nothing to reverse: the text is empty");
      for (const result of results) {
        expect(result.durationMs).toBeTypeOf("number");
        expect(result.durationMs).toBeGreaterThanOrEqual(0);
      }
    } finally {
      await store.close();
    }

    // What the README shows: `frontdesk sessions show` lists the calls with their status and duration.
    if (existsSync(join(ROOT, "dist/cli/main.js"))) {
      const shown = execFileSync(
        process.execPath,
        [join(ROOT, "bin/frontdesk.js"), "sessions", "show", "demo-1", "--store", storeUrl, "--user", "local"],
        { encoding: "utf8" },
      );
      expect(shown).toMatch(/word_count success in [\d.]+ms/);
      expect(shown).toMatch(/reverse_text error in [\d.]+ms: Nothing to reverse/);
    }
  });
});
