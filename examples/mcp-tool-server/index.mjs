#!/usr/bin/env node
// A small MCP tool server whose every tool call is recorded in a Frontdesk session.
// Run it over stdio from a desktop assistant (see README.md); the calls land in the store named by
// FRONTDESK_STORE, in the sessions of FRONTDESK_USER ("local", as `frontdesk mcp` uses).
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createSessionManager } from "frontdesk";
import { trackSessions } from "frontdesk/mcp";
import { z } from "zod";

const sessions = await createSessionManager({
  store: process.env.FRONTDESK_STORE || "sqlite:./.frontdesk/frontdesk.db",
});

const server = new McpServer({ name: "word-tools", version: "1.0.0" });

// From here on every tool call with a `session_id` argument (or on an HTTP transport, in an MCP
// session) is recorded: tool, input, output or error, status and duration. Logs go to stderr.
trackSessions(server, {
  sessions: sessions.forUser(process.env.FRONTDESK_USER || "local"),
  logger: { warn: (details, message) => console.error(`word-tools: ${message}`, details) },
});

server.registerTool(
  "word_count",
  {
    description: "Counts the words, lines and characters of a text",
    inputSchema: { text: z.string().max(1_000_000) },
  },
  async ({ text }) => {
    const counts = {
      words: text.split(/\s+/).filter(Boolean).length,
      lines: text === "" ? 0 : text.split("\n").length,
      characters: [...text].length,
    };
    return { content: [{ type: "text", text: JSON.stringify(counts) }], structuredContent: counts };
  },
);

server.registerTool(
  "reverse_text",
  {
    description: "Reverses a text, character by character (or word by word)",
    inputSchema: { text: z.string().max(1_000_000), by: z.enum(["characters", "words"]).optional() },
  },
  async ({ text, by = "characters" }) => {
    if (text.trim() === "") {
      return { isError: true, content: [{ type: "text", text: "Nothing to reverse: the text is empty" }] };
    }
    const reversed = by === "words" ? text.split(/(\s+)/).reverse().join("") : [...text].reverse().join("");
    return { content: [{ type: "text", text: reversed }] };
  },
);

const transport = new StdioServerTransport();
await server.connect(transport);
console.error("word-tools: ready on stdio");

// The client closing stdin ends the server; the store is closed cleanly.
process.stdin.once("end", async () => {
  await server.close();
  await sessions.store.close();
});
