/**
 * Sessions written through every framework adapter, as `frontdesk serve` and the console show
 * them. One conversation per adapter (the framework's own runner over a scripted model, with a
 * tool call; see adapter-writers.ts) is written into the SQLite store of a running server, owned
 * by alice. With alice's key, each is listed, streamed over SSE and exported over HTTP; in Chromium
 * each reads as message bubbles and a tool card, with the framework's bookkeeping (checkpoints,
 * history markers, revisions, the copies adapters keep on messages) folded out of sight.
 * Needs `npm run build` (dist/ and dist/web) and .ci/browser. Screenshots go to .tmp/.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/index.ts";
import { type WrittenSession, writeEveryAdapter } from "./adapter-writers.ts";
import { apiClient, assertPrerequisites, launchBrowser, type ServeProcess, signInAs, startServe } from "./harness.ts";

const SHOTS = path.join(path.dirname(new URL(import.meta.url).pathname), "../../.tmp");
const OWNER = "alice";

/**
 * What the console must not print, per adapter: the markers of its bookkeeping events and of the
 * framework's own copy of each message, which stay in the `{ }` view and the export.
 */
const BOOKKEEPING_TEXT: Record<string, string[]> = {
  "ai-sdk": ["step-start", "uiMessageId"],
  langgraph: ["versions", "__start__", "langchain_core", "branch:to", "tool_call_id"],
  "openai-agents": ["output_text", "openaiItem", '"op"', "pondering", "function_call_result"],
  adk: ["longRunningToolIds", "invocationId", "functionCall", "requestedAuthConfigs"],
  mastra: ["tool-invocation", '"format"', "resourceId", "rating"],
};

/** The framework bookkeeping rows each session has, as the console labels them. */
const BOOKKEEPING_ROWS: Record<string, string[]> = {
  "ai-sdk": [],
  langgraph: ["LangGraph checkpoint", "LangGraph writes"],
  "openai-agents": ["OpenAI Agents history", "OpenAI Agents item"],
  adk: ["ADK event"],
  mastra: ["Mastra message revised"],
};

let serve: ServeProcess;
let browser: Browser;
let page: Page;
let ownerKey: string;
let written: WrittenSession[];

beforeAll(async () => {
  assertPrerequisites();
  [serve, browser] = await Promise.all([startServe(), launchBrowser()]);
  ownerKey = serve.createKey(OWNER);
  // Written by the adapters in this process while the server runs, as an app beside it would.
  written = await writeEveryAdapter(serve.store, OWNER);
  page = await browser.newPage({ viewport: { width: 1280, height: 1500 } });
  await signInAs(page, serve.url, ownerKey);
  mkdirSync(SHOTS, { recursive: true });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
});

const asOwner = () => apiClient(serve.apiUrl, ownerKey);
const session = (adapter: string): WrittenSession => {
  const found = written.find((one) => one.adapter === adapter);
  if (!found) throw new Error(`no session was written for ${adapter}`);
  return found;
};

async function eventsOf(id: string): Promise<SessionEvent[]> {
  const read = await asOwner()<{ items: SessionEvent[] }>("GET", `/v1/sessions/${id}/events?limit=1000`);
  expect(read.status).toBe(200);
  return read.body.items;
}

/** The events an SSE stream from the start replays, read until the one with `lastSeq`. */
async function replay(id: string, lastSeq: number): Promise<SessionEvent[]> {
  const response = await fetch(`${serve.apiUrl}/v1/sessions/${id}/events/stream`, {
    headers: { authorization: `Bearer ${ownerKey}` },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const reader = (response.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
  const events: SessionEvent[] = [];
  let buffer = "";
  try {
    while ((events.at(-1)?.seq ?? 0) < lastSeq) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const frames = buffer.split("\n\n");
      buffer = frames.pop() ?? "";
      for (const frame of frames) {
        const data = frame
          .split("\n")
          .filter((line) => line.startsWith("data: "))
          .map((line) => line.slice(6))
          .join("\n");
        if (data) events.push(JSON.parse(data) as SessionEvent);
      }
    }
  } finally {
    await reader.cancel();
  }
  return events;
}

describe("sessions written through every framework adapter, under frontdesk serve", () => {
  it("are listed for their owner's key, and for no other user", async () => {
    const listed = await asOwner()<{ items: { id: string; userId: string }[] }>("GET", "/v1/sessions?limit=100");
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((item) => item.id).sort()).toEqual(written.map((one) => one.id).sort());
    expect(new Set(listed.body.items.map((item) => item.userId))).toEqual(new Set([OWNER]));

    const other = apiClient(serve.apiUrl, serve.createKey("bob"));
    expect((await other<{ items: unknown[] }>("GET", "/v1/sessions")).body.items).toEqual([]);
    expect((await other("GET", `/v1/sessions/${written[0]!.id}`)).status).toBe(404);
  });

  describe.each(["ai-sdk", "langgraph", "openai-agents", "adk", "mastra"])("%s", (adapter) => {
    it("replays its events over SSE and exports them as NDJSON, messages and tool call included", async () => {
      const { id, question, answer, tool } = session(adapter);
      const stored = await eventsOf(id);
      const lastSeq = stored.at(-1)!.seq;

      const streamed = await replay(id, lastSeq);
      expect(streamed.map((event) => event.seq)).toEqual(stored.map((event) => event.seq));
      expect(streamed).toEqual(stored);

      const exported = await fetch(`${serve.apiUrl}/v1/sessions/${id}/export`, {
        headers: { authorization: `Bearer ${ownerKey}` },
      });
      expect(exported.status).toBe(200);
      const lines = (await exported.text())
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { kind: string; event?: SessionEvent; session?: { id: string } });
      expect(lines[0]).toMatchObject({ kind: "session", session: { id, userId: OWNER } });
      expect(lines.filter((line) => line.kind === "event").map((line) => line.event)).toEqual(stored);

      const messages = stored.filter((event) => event.type === "message");
      const said = JSON.stringify(messages);
      expect(said).toContain(question);
      expect(said).toContain(JSON.stringify(answer).slice(1, -1));
      expect(messages.map((event) => event.role)).toEqual(expect.arrayContaining(["user", "assistant"]));
      // The tool call is a tool_call event, or (LangGraph) a tool-call part answered by a tool message.
      expect(said.includes(`"toolName":"${tool}"`) || stored.some((event) => event.type === "tool_call")).toBe(true);
    });

    it("shows in the console as message bubbles and a tool card, its bookkeeping folded", async () => {
      const { id, question, answer, tool, output } = session(adapter);
      await page.goto(`${serve.url}/sessions/${id}`);
      const asked = page.locator(".ev-role-user .bubble").first();
      await asked.waitFor();
      expect(await asked.innerText()).toBe(question);
      await page.locator(".ev-role-assistant .bubble", { hasText: answer }).waitFor();

      const card = page.locator(".tool-card");
      expect(await card.count()).toBe(1);
      expect(await card.locator(".tool-name").innerText()).toBe(tool);
      expect(await card.locator(".badge").innerText()).toBe("success");

      const rows = page.locator(".bookkeeping");
      const labels = await rows.locator(".bookkeeping-label").allInnerTexts();
      expect([...new Set(labels)].sort()).toEqual(BOOKKEEPING_ROWS[adapter]);
      // Each folded to one line of small text, whatever the size of the record.
      for (const row of await rows.all()) expect((await row.boundingBox())?.height).toBeLessThan(24);

      const timeline = await page.locator(".timeline").innerText();
      for (const marker of BOOKKEEPING_TEXT[adapter]!) expect(timeline, marker).not.toContain(marker);
      await page.screenshot({ path: path.join(SHOTS, `adapter-sessions-${adapter}.png`) });

      // Unfolded on demand: the card's output, and a bookkeeping row's JSON.
      await card.locator(".tool-head").click();
      await card.locator(".tool-body", { hasText: output }).waitFor();
      if (labels.length > 0) {
        await rows.first().locator(".fold").click();
        await rows.first().locator(".bookkeeping-body .json-tree").waitFor();
      }
      await page.screenshot({ path: path.join(SHOTS, `adapter-sessions-${adapter}-unfolded.png`) });
    });
  });
});
