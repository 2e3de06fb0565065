/**
 * Sessions written through a framework adapter, as `frontdesk serve` and the console show them: a
 * chat saved by the AI SDK adapter (a real `streamText` with a tool, over a scripted model) into
 * the SQLite store a running server uses is listed, streamed and exported over HTTP, and the
 * console draws it as message bubbles and a tool card, not as raw UIMessage parts. Needs
 * `npm run build`, `npx vite build --config src/web/vite.config.ts` and .ci/browser.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { convertToModelMessages, stepCountIs, streamText, tool } from "ai";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createChatStore } from "../../src/adapters/ai-sdk/index.ts";
import { scriptedModel, userMessage } from "../adapters/ai-sdk-support.ts";
import { apiClient, assertPrerequisites, launchBrowser, type ServeProcess, signInAs, startServe } from "./harness.ts";

const SHOTS = path.join(path.dirname(new URL(import.meta.url).pathname), "../../.tmp");
const CHAT = "weather-chat";

let serve: ServeProcess;
let browser: Browser;
let admin: ReturnType<typeof apiClient>;

/** One chat turn as an AI SDK route runs it: the model calls `weather`, then answers from its result. */
async function writeAiSdkChat(store: string): Promise<void> {
  const chats = createChatStore({ store, userId: "alice" });
  const weather = tool({
    description: "current weather",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => ({ city, celsius: 3, sky: "snow" }),
  });
  const { model } = scriptedModel([
    { tool: "weather", toolCallId: "call-oslo", input: { city: "Oslo" } },
    { text: "It is 3 °C and snowing in Oslo." },
  ]);
  const messages = [userMessage("u1", "What is the weather in Oslo?")];
  const result = streamText({
    model,
    messages: await convertToModelMessages(messages),
    tools: { weather },
    stopWhen: stepCountIs(3),
  });
  let saved!: () => void;
  const done = new Promise<void>((resolve) => {
    saved = resolve;
  });
  const persist = chats.persistOnFinish({ id: CHAT, messages });
  await result
    .toUIMessageStreamResponse({
      ...persist,
      onFinish: async (event) => {
        await persist.onFinish(event);
        saved();
      },
    })
    .text();
  await done;
  await chats.close();
}

beforeAll(async () => {
  assertPrerequisites();
  [serve, browser] = await Promise.all([startServe(), launchBrowser()]);
  admin = apiClient(serve.apiUrl, serve.adminKey);
  // Written by another process's adapter while the server runs, as an app beside the server would.
  await writeAiSdkChat(serve.store);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
});

describe("an AI SDK chat under frontdesk serve", () => {
  it("is listed, streamed over SSE and exported as message, tool_call and tool_result events", async () => {
    const list = await admin<{ items: { id: string; tags: string[] }[] }>("GET", "/v1/sessions?userId=alice");
    expect(list.body.items).toContainEqual(expect.objectContaining({ id: CHAT, tags: ["ai-sdk"] }));

    const stream = await fetch(`${serve.apiUrl}/v1/sessions/${CHAT}/events/stream?userId=alice`, {
      headers: { authorization: `Bearer ${serve.adminKey}` },
    });
    const reader = (stream.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    let sse = "";
    while (!sse.includes("It is 3 °C")) {
      const { value, done } = await reader.read();
      if (done) break;
      sse += value;
    }
    await reader.cancel();
    expect(sse).toMatch(/"type":"tool_call"[^\n]*"tool":"weather"/);
    expect(sse).toMatch(/"type":"tool_result"[^\n]*"status":"success"/);

    const exported = await fetch(`${serve.apiUrl}/v1/sessions/${CHAT}/export?userId=alice`, {
      headers: { authorization: `Bearer ${serve.adminKey}` },
    });
    const lines = (await exported.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { kind?: string; type?: string; event?: { type: string } });
    const types = lines.map((line) => line.event?.type ?? line.type).filter(Boolean);
    expect(types).toEqual(expect.arrayContaining(["message", "tool_call", "tool_result"]));
  });

  it("shows in the console as message bubbles and a tool card", async () => {
    const page: Page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await signInAs(page, serve.url, serve.adminKey);
      await page.goto(`${serve.url}/sessions/${CHAT}?user=alice`);
      const question = page.locator(".ev-role-user .bubble");
      await question.waitFor();
      expect(await question.innerText()).toBe("What is the weather in Oslo?");
      await page.locator(".ev-role-assistant .bubble", { hasText: "It is 3 °C and snowing in Oslo." }).waitFor();

      const card = page.locator(".tool-card");
      await card.waitFor();
      expect(await card.count()).toBe(1);
      expect(await card.locator(".tool-name").innerText()).toBe("weather");
      expect(await card.locator(".badge").innerText()).toBe("success");
      await card.locator(".tool-head").click();
      await card.locator(".tool-body", { hasText: "snow" }).waitFor();

      // The UIMessage copy each message keeps for loadChat stays out of the chat view.
      const timeline = await page.locator("main").innerText();
      expect(timeline).not.toContain("step-start");
      expect(timeline).not.toContain("uiMessageId");
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, "adapter-sessions-ai-sdk.png"), fullPage: true });
    } finally {
      await page.close();
    }
  });
});
