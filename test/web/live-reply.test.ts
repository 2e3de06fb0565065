/**
 * Token-stream resume in the console (Chromium against a real `frontdesk serve`): the chat starts
 * detached turns and draws the reply being written from the log's `turn.delta` events, through
 * frontdesk/react's useSession. The model is a PacedModel the test releases chunk by chunk, so the
 * reply stops at an exact point while the page reloads or a second tab attaches.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cutText, PacedModel, pacedModelConfig, QUICK_PIECES } from "../support/paced-model.ts";
import {
  apiClient,
  assertPrerequisites,
  launchBrowser,
  SCREENSHOTS,
  type ServeProcess,
  signInAs,
  startServe,
} from "./harness.ts";

const REPLY =
  "Here is the plan for your refund: first we check the order, then we confirm the amount of €140.29, " +
  "and finally we send the money back to the card you paid with — it takes three to five days. 🚀";
const PIECES = cutText(REPLY);
/** Where the reply stops while the page reloads or a second tab attaches. */
const STOP_AT = 8;
const SHOWN_BEFORE = PIECES.slice(0, STOP_AT).join("");

const model = new PacedModel();
let serve: ServeProcess;
let browser: Browser;
let context: BrowserContext;
let admin: ReturnType<typeof apiClient>;

beforeAll(async () => {
  assertPrerequisites();
  await model.start();
  model.script = () => ({ text: REPLY });
  [serve, browser] = await Promise.all([
    startServe({
      config: {
        limits: { requestsPerSecond: 2000 },
        models: { paced: pacedModelConfig(model.url) },
        agents: {
          assistant: {
            model: "paced",
            persistDeltas: QUICK_PIECES,
            systemPrompt: "You are a test assistant.",
            tools: [],
          },
        },
      },
    }),
    launchBrowser(),
  ]);
  admin = apiClient(serve.apiUrl, serve.adminKey);
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
}, 90_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await serve?.stop();
  await model.stop();
});

async function newPage(): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => {
    throw new Error(`page error: ${error.message}`);
  });
  return page;
}

/** The whole text of the timeline, to count how often the reply shows. */
const timelineText = (page: Page): Promise<string> =>
  page.locator(".timeline").evaluate((element) => (element as unknown as { innerText: string }).innerText);

const occurrences = (text: string, part: string): number => text.split(part).length - 1;

/** Lets the reply out to `pieces` chunks (counted over this reply) and waits until the model wrote them. */
async function releaseTo(before: number, pieces: number): Promise<void> {
  model.release(before + pieces - model.written);
  await model.until((m) => m.written >= before + pieces, `${pieces} pieces of the reply`);
}

/** Sends `message` from the page's chat box. */
async function send(page: Page, message: string): Promise<void> {
  await page.getByLabel("Message the agent").fill(message);
  await page.getByLabel("Message the agent").press("Enter");
}

/** The reply's end: its final words in the assistant message, no draft left, the box ready again. */
async function waitForReplyEnd(page: Page): Promise<void> {
  await page.locator(".ev-role-assistant:not(.ev-draft) .markdown", { hasText: "three to five days" }).waitFor();
  await page.locator(".ev-draft").waitFor({ state: "detached" });
  await page.getByRole("button", { name: "Send" }).waitFor();
}

describe("the console follows a reply being written (detached turns over the events stream)", () => {
  it("a reload mid-reply shows the reply continuing to its end, its text exactly once", async () => {
    await admin("POST", "/v1/sessions?userId=alice", { id: "paced-reload", title: "Reload mid-reply" });
    model.hold();
    const before = model.written;
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/paced-reload?user=alice`);
    await send(page, "how do I get my refund?");
    await releaseTo(before, STOP_AT);
    const draft = page.locator(".ev-draft");
    await draft.getByText(SHOWN_BEFORE.trim()).waitFor();
    await page.getByRole("button", { name: "Stop" }).waitFor();

    // The reply is held at piece 8: reload the page (this tab keeps its sign-in).
    await page.reload();
    await draft.getByText(SHOWN_BEFORE.trim()).waitFor();
    await page.getByRole("button", { name: "Stop" }).waitFor();
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, "console-reply-resumed.png") });

    // Closing the page did not cancel the detached turn: the reply goes on to its end, here.
    await releaseTo(before, STOP_AT + 4);
    await draft
      .getByText(
        PIECES.slice(0, STOP_AT + 4)
          .join("")
          .trim(),
      )
      .waitFor();
    model.free();
    await waitForReplyEnd(page);
    const text = await timelineText(page);
    expect(occurrences(text, "Here is the plan for your refund")).toBe(1);
    expect(occurrences(text, "three to five days")).toBe(1);

    const events = await admin<{ items: { type: string; role?: string; content?: unknown }[] }>(
      "GET",
      "/v1/sessions/paced-reload/events?userId=alice&type=message",
    );
    const replies = events.body.items.filter((event) => event.role === "assistant");
    expect(replies.map((event) => event.content)).toEqual([REPLY]);
    await page.close();
  });

  it("two tabs on one session see the same reply live", async () => {
    await admin("POST", "/v1/sessions?userId=alice", { id: "paced-tabs", title: "Two tabs" });
    model.hold();
    const before = model.written;
    const [first, second] = await Promise.all([newPage(), newPage()]);
    for (const page of [first, second]) {
      await signInAs(page, serve.url, serve.adminKey);
      await page.goto(`${serve.url}/sessions/paced-tabs?user=alice`);
      await page.getByLabel("Message the agent").waitFor();
    }
    await send(first, "and the second tab?");
    await releaseTo(before, 3);
    for (const page of [first, second]) {
      await page.locator(".ev-draft").getByText(PIECES.slice(0, 3).join("").trim()).waitFor();
      await page.getByRole("button", { name: "Stop" }).waitFor();
    }
    await releaseTo(before, STOP_AT);
    for (const page of [first, second]) await page.locator(".ev-draft").getByText(SHOWN_BEFORE.trim()).waitFor();
    // The second tab knows a turn runs (started elsewhere): it offers Stop, not Send.
    expect(await second.getByRole("button", { name: "Send" }).count()).toBe(0);
    model.free();
    for (const page of [first, second]) {
      await waitForReplyEnd(page);
      const text = await timelineText(page);
      expect(occurrences(text, "Here is the plan for your refund")).toBe(1);
      expect(occurrences(text, "and the second tab?")).toBe(1);
    }
    await Promise.all([first.close(), second.close()]);
  });

  it("Stop cancels the running turn through POST cancel: the partial reply stays, marked cancelled", async () => {
    await admin("POST", "/v1/sessions?userId=alice", { id: "paced-stop", title: "Stopped" });
    model.hold();
    const before = model.written;
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/paced-stop?user=alice`);
    await send(page, "start and stop");
    await releaseTo(before, 3);
    await page.locator(".ev-draft").getByText(PIECES.slice(0, 3).join("").trim()).waitFor();
    await page.getByRole("button", { name: "Stop" }).click();
    await page.getByText("The turn was cancelled.").waitFor();
    await page.getByRole("button", { name: "Send" }).waitFor();
    await page.locator(".ev-draft").waitFor({ state: "detached" });
    const events = await admin<{ items: { type: string; role?: string; content?: unknown; reason?: string }[] }>(
      "GET",
      "/v1/sessions/paced-stop/events?userId=alice",
    );
    const end = events.body.items.filter((event) => event.type === "status").at(-1);
    expect(end?.reason).toBe("cancelled");
    model.free();
    await page.close();
  });
});
