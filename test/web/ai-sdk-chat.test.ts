/**
 * examples/ai-sdk-chat in a real browser (Debian's chromium through playwright-core): the page is
 * built and served by Vite from the example's own config (its /v1 proxy aimed at the server through
 * FRONTDESK_SERVER, as its README says), against a real Frontdesk server on a socket whose agent
 * runs on the paced model, so a reply stops at an exact chunk while the test reloads, opens a
 * second tab or presses Stop. Every wait is for something to appear, never for time to pass.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { UIMessage } from "ai";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { build, type PreviewServer, preview } from "vite";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/agent/config.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type RunningServer, startServer } from "../../src/server/listen.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { cutText, PacedModel, pacedModelConfig, QUICK_PIECES } from "../support/paced-model.ts";
import { CHROMIUM, launchBrowser, SCREENSHOTS } from "./harness.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EXAMPLE_CONFIG = path.join(ROOT, "examples/ai-sdk-chat/vite.config.ts");

/** Long enough to stop in the middle of: one paced chunk per word. */
const REPLY = "Frontdesk keeps every reply in its log, so a reload picks it up where it was and shows it once.";
const PIECES = cutText(REPLY);
const prefix = (chunks: number) => PIECES.slice(0, chunks).join("");

let model: PacedModel;
let server: RunningServer;
let site: PreviewServer;
let siteUrl: string;
let browser: Browser;
let context: BrowserContext;
let key: string;
let outDir: string;
let serverBefore: string | undefined;
let pageErrors: string[];
/** The page's API requests that failed: none should (a new chat resumes nothing, Stop cancels a running turn). */
let failedRequests: string[];

beforeAll(async () => {
  model = await new PacedModel().start();
  const store = createMemoryStore();
  key = (await createApiKey(store, { userId: "alice" })).key;
  server = await startServer({
    store,
    port: 0,
    logger: false,
    agents: {
      config: parseConfig({
        models: { paced: pacedModelConfig(model.url) },
        agents: {
          assistant: {
            model: "paced",
            persistDeltas: QUICK_PIECES,
            tools: ["calculator"],
            approval: { calculator: "ask" },
          },
        },
      }),
    },
  });

  // The example's config reads FRONTDESK_SERVER when Vite loads it. The worker runs other files
  // after this one (vitest.config.ts: no isolation), so afterAll puts the variable back.
  serverBefore = process.env.FRONTDESK_SERVER;
  process.env.FRONTDESK_SERVER = server.url;
  outDir = mkdtempSync(path.join(tmpdir(), "frontdesk-ai-sdk-chat-"));
  await build({ configFile: EXAMPLE_CONFIG, logLevel: "error", build: { outDir, emptyOutDir: true } });
  site = await preview({
    configFile: EXAMPLE_CONFIG,
    logLevel: "error",
    build: { outDir },
    preview: { host: "127.0.0.1", port: 0, strictPort: false, open: false },
  });
  const url = site.resolvedUrls?.local[0];
  if (!url) throw new Error("vite preview did not say where it listens");
  siteUrl = url.replace(/\/$/, "");

  if (!existsSync(CHROMIUM)) throw new Error(`Browser tests need ${CHROMIUM} (run .ci/browser)`);
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  if (serverBefore === undefined) delete process.env.FRONTDESK_SERVER;
  else process.env.FRONTDESK_SERVER = serverBefore;
  await browser?.close();
  await site?.close();
  await model?.stop();
  await server?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

beforeEach(async () => {
  model.hold();
  model.script = () => ({ text: REPLY });
  pageErrors = [];
  failedRequests = [];
  context = await browser.newContext({ viewport: { width: 960, height: 720 } });
});

afterEach(async () => {
  // Lets a reply the test left held run out, so the next test starts on an idle model.
  model.free();
  await context.close();
  expect(pageErrors).toEqual([]);
  expect(failedRequests).toEqual([]);
});

const newChatId = () => `chat-${Math.random().toString(36).slice(2, 12)}`;

async function openChat(chatId: string): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("response", (response) => {
    const { pathname } = new URL(response.url());
    // A new chat's history is a 404 (no session yet), which the page reads as "no messages".
    const newChat = pathname.endsWith("/messages") && response.status() === 404;
    if (pathname.startsWith("/v1/") && response.status() >= 400 && !newChat) {
      failedRequests.push(`${response.request().method()} ${response.url()}: ${response.status()}`);
    }
  });
  await page.goto(`${siteUrl}/?key=${encodeURIComponent(key)}&chat=${encodeURIComponent(chatId)}`);
  await page.getByRole("textbox", { name: "Message" }).waitFor();
  return page;
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByRole("textbox", { name: "Message" }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

interface ShownMessage {
  role: string;
  text: string;
}

/** Runs in the page: each message's role and its text parts joined, as JSON (the root tsconfig has no DOM types). */
const READ_SHOWN = `JSON.stringify([...document.querySelectorAll("li[data-role]")].map((item) => ({
  role: item.dataset.role,
  text: [...item.querySelectorAll(".text")].map((part) => part.textContent).join(""),
})))`;

const shown = async (page: Page): Promise<ShownMessage[]> => JSON.parse(await page.evaluate<string>(READ_SHOWN));

/** Waits until the page shows exactly these messages. */
async function waitForShown(page: Page, expected: ShownMessage[]): Promise<void> {
  await page
    .waitForFunction(`${READ_SHOWN} === ${JSON.stringify(JSON.stringify(expected))}`, undefined, { timeout: 20_000 })
    .catch(async (error: unknown) => {
      const alerts = await page.getByRole("alert").allTextContents();
      throw new Error(
        `the page shows ${JSON.stringify(await shown(page))} (alerts: ${JSON.stringify(alerts)}), not ${JSON.stringify(expected)}: ${String(error)}`,
      );
    });
}

const chatStatus = (page: Page) => page.getByTestId("chat-status").textContent();

async function waitForStatus(page: Page, status: string): Promise<void> {
  await page
    .getByTestId("chat-status")
    .filter({ hasText: new RegExp(`^${status}$`) })
    .waitFor({ timeout: 20_000 });
}

async function api(method: string, url: string): Promise<Response> {
  return fetch(`${server.url}${url}`, { method, headers: { authorization: `Bearer ${key}` } });
}

async function storedMessages(chatId: string): Promise<UIMessage[]> {
  const response = await api("GET", `/v1/chat/${chatId}/messages`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { messages: UIMessage[] }).messages;
}

const textOf = (message: UIMessage | undefined) =>
  (message?.parts ?? []).flatMap((part) => (part.type === "text" ? [part.text] : [])).join("");

/** The stored history as the page shows it, so the two compare directly. */
const asShown = (messages: UIMessage[]): ShownMessage[] =>
  messages.map((message) => ({ role: message.role, text: textOf(message) }));

/** Waits until the server has stored the turn's reply (the turn has ended). */
async function waitForStoredReply(chatId: string, text: string): Promise<UIMessage[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const messages = await storedMessages(chatId);
    if (messages.at(-1)?.role === "assistant" && textOf(messages.at(-1)) === text) return messages;
    if (Date.now() > deadline) throw new Error(`the stored reply is still ${JSON.stringify(asShown(messages))}`);
    // Polling: the turn's last commit has no event this test could wait on from outside.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("examples/ai-sdk-chat in Chromium", () => {
  it("streams the answer into the page as the model writes it", async () => {
    const chatId = newChatId();
    const page = await openChat(chatId);
    await send(page, "Hello there");

    model.release(3);
    await waitForShown(page, [
      { role: "user", text: "Hello there" },
      { role: "assistant", text: prefix(3) },
    ]);
    expect(await chatStatus(page)).toBe("streaming");

    model.free();
    await waitForShown(page, [
      { role: "user", text: "Hello there" },
      { role: "assistant", text: REPLY },
    ]);
    await waitForStatus(page, "ready");
    expect(asShown(await waitForStoredReply(chatId, REPLY))).toEqual(await shown(page));
  });

  it("reloaded in the middle of the reply, shows the reply continuing to its end, its text once", async () => {
    const chatId = newChatId();
    const page = await openChat(chatId);
    await send(page, "Tell me about reloads");
    model.release(5);
    await waitForShown(page, [
      { role: "user", text: "Tell me about reloads" },
      { role: "assistant", text: prefix(5) },
    ]);

    await page.reload();
    // The history holds the question; resume replays the reply from its start while the model still holds.
    await waitForShown(page, [
      { role: "user", text: "Tell me about reloads" },
      { role: "assistant", text: prefix(5) },
    ]);
    expect(await chatStatus(page)).toBe("streaming");

    model.release(3);
    await waitForShown(page, [
      { role: "user", text: "Tell me about reloads" },
      { role: "assistant", text: prefix(8) },
    ]);
    model.free();
    await waitForShown(page, [
      { role: "user", text: "Tell me about reloads" },
      { role: "assistant", text: REPLY },
    ]);
    await waitForStatus(page, "ready");
    expect(asShown(await waitForStoredReply(chatId, REPLY))).toEqual(await shown(page));
  });

  it("two tabs on one chat see the same reply: the second, opened mid-reply, resumes it", async () => {
    const chatId = newChatId();
    const first = await openChat(chatId);
    await send(first, "Two tabs");
    model.release(4);
    const partial = [
      { role: "user", text: "Two tabs" },
      { role: "assistant", text: prefix(4) },
    ];
    await waitForShown(first, partial);

    const second = await openChat(chatId);
    await waitForShown(second, partial);

    model.release(2);
    const further = [partial[0]!, { role: "assistant", text: prefix(6) }];
    await Promise.all([waitForShown(first, further), waitForShown(second, further)]);

    model.free();
    const whole = [partial[0]!, { role: "assistant", text: REPLY }];
    await Promise.all([waitForShown(first, whole), waitForShown(second, whole)]);
    await Promise.all([waitForStatus(first, "ready"), waitForStatus(second, "ready")]);
    expect(asShown(await waitForStoredReply(chatId, REPLY))).toEqual(whole);
  });

  it("Stop ends the reply, keeps it shown and stored marked cancelled; a reload shows it and resumes nothing", async () => {
    const chatId = newChatId();
    const page = await openChat(chatId);
    await send(page, "Please stop midway");
    model.release(4);
    const stopped = [
      { role: "user", text: "Please stop midway" },
      { role: "assistant", text: prefix(4) },
    ];
    await waitForShown(page, stopped);

    await page.getByRole("button", { name: "Stop" }).click();
    await waitForStatus(page, "ready");
    await waitForShown(page, stopped);

    const stored = await waitForStoredReply(chatId, prefix(4));
    expect(asShown(stored)).toEqual(stopped);
    expect(stored.at(-1)?.metadata).toMatchObject({ finish: "cancelled" });
    // Nothing runs any more: the model is never asked to go on, and resume has nothing to give.
    expect((await api("GET", `/v1/chat/${chatId}/stream`)).status).toBe(204);

    await page.reload();
    await waitForShown(page, stopped);
    await page.getByText("Stopped").waitFor();
    await waitForStatus(page, "ready");
  });

  it("an approval request shows Approve and Deny, survives a reload, and Approve lets the turn go on, its text once", async () => {
    model.script = (request) => {
      const last = request.messages.at(-1);
      // The answer quotes the tool's result, so it proves the approved call ran and reached the model.
      if (last?.role === "tool")
        return { text: `The calculator says ${/"result":(\d+)/.exec(String(last.content))?.[1]}.` };
      // Text and a tool call in one step: the text must still show once.
      return { text: "Let me work that out. ", toolCall: { name: "calculator", input: { expression: "6*7" } } };
    };
    model.free();
    // A fixed id (the store is new each run) keeps the screenshot the same from run to run.
    const chatId = "calculator-approval";
    const page = await openChat(chatId);
    await send(page, "What is 6*7?");
    const tool = page.locator('[data-tool="calculator"]');
    await tool.and(page.locator('[data-state="approval-requested"]')).waitFor();

    // The turn waits on the server; a reload resumes its reply up to the request.
    await page.reload();
    await tool.and(page.locator('[data-state="approval-requested"]')).waitFor();
    await page.getByRole("button", { name: "Approve" }).click();

    await tool.and(page.locator('[data-state="output-available"]')).waitFor();
    await waitForStatus(page, "ready");
    const stored = await storedMessages(chatId);
    expect(stored.at(-1)?.metadata).toMatchObject({ finish: "complete" });
    expect(textOf(stored.at(-1))).toBe("Let me work that out. The calculator says 42.");
    await waitForShown(page, asShown(stored));
    await expect(tool.textContent()).resolves.toContain("42");

    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, "ai-sdk-chat.png") });
  });
});
