/**
 * Redaction and pruning in the web console, in a real browser against a real `frontdesk serve`:
 * the Redact action removes a message's content from the page (and from a second tab that only
 * watches, without a reload), the tombstone says who, when and why, a stale version is refused
 * with a clear message, and a prune while the page is open leaves the marker where the pruned
 * events were. Needs `npm run build`, `npx vite build --config src/web/vite.config.ts` and
 * .ci/browser. Every wait is for something to appear, never for time to pass.
 */
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  apiClient,
  assertPrerequisites,
  launchBrowser,
  SCREENSHOTS,
  type ServeProcess,
  signInAs,
  startServe,
} from "./harness.ts";

const CANARY = "CANARY-4111-1111-1111-1111";
const TOOL_CANARY = "CANARY-ssn-078-05-1120";
const REASON = "card number pasted by the user";

let serve: ServeProcess;
let browser: Browser;
let context: BrowserContext;
let admin: ReturnType<typeof apiClient>;

beforeAll(async () => {
  assertPrerequisites();
  [serve, browser] = await Promise.all([
    startServe({ config: { limits: { requestsPerSecond: 2000 } } }),
    launchBrowser(),
  ]);
  admin = apiClient(serve.apiUrl, serve.adminKey);
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
}, 90_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await serve?.stop();
});

async function openSession(id: string): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => {
    throw new Error(`page error: ${error.message}`);
  });
  await signInAs(page, serve.url, serve.adminKey);
  await page.goto(`${serve.url}/sessions/${id}?user=alice`);
  await page.locator(".follow-live").waitFor();
  return page;
}

const row = (page: Page, name: string) => page.getByRole("article", { name });

async function redactThroughDialog(page: Page, rowName: string, reason: string): Promise<void> {
  const target = row(page, rowName);
  await target.hover();
  await target.getByRole("button", { name: /^Redact/ }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Reason (kept in the tombstone)").fill(reason);
  await dialog.getByRole("button", { name: "Redact", exact: true }).click();
}

describe("redaction in the console", () => {
  it("the Redact action removes the content from this tab and from a watching tab, and says who, when and why", async () => {
    await admin("POST", "/v1/sessions?userId=alice", { id: "redact-1", title: "A card number pasted" });
    await admin("POST", "/v1/sessions/redact-1/events?userId=alice", {
      events: [
        { type: "message", role: "user", content: "Hello, I need help with a payment." },
        { type: "message", role: "user", content: `My card is ${CANARY}, expiry 04/29.` },
        { type: "message", role: "assistant", content: "Thanks, please never paste card numbers here." },
        { type: "tool_call", invocationId: "inv-1", tool: "lookup_customer", input: { id: "C-7" } },
        {
          type: "tool_result",
          invocationId: "inv-1",
          tool: "lookup_customer",
          status: "success",
          output: { name: "Ada", ssn: TOOL_CANARY },
        },
      ],
    });
    const watcher = await openSession("redact-1");
    const page = await openSession("redact-1");
    for (const tab of [page, watcher]) await tab.getByText(CANARY).waitFor();

    await redactThroughDialog(page, "Event 2: user message", REASON);

    for (const tab of [page, watcher]) {
      const tombstone = row(tab, "Event 2: user message (redacted)");
      await tombstone.locator(".badge-redacted", { hasText: "Redacted" }).waitFor();
      await expect.poll(() => tombstone.locator(".redacted-reason").textContent()).toContain(REASON);
      await expect.poll(() => tombstone.locator(".redacted-note").textContent()).toMatch(/by key_\w+/);
      // The notice reads as one line, not as a raw custom event.
      await tab.getByText(new RegExp(`^Event 2 redacted by key_\\w+: ${REASON}$`)).waitFor();
      await expect.poll(() => tab.content()).not.toContain(CANARY);
    }
    // A tombstone has nothing left to redact.
    await expect(
      row(page, "Event 2: user message (redacted)")
        .getByRole("button", { name: /^Redact/ })
        .count(),
    ).resolves.toBe(0);

    // A tool row folds the call and its result: the dialog offers both, and redacts only what stays checked.
    await row(watcher, "Event 4: tool lookup_customer")
      .getByRole("button", { name: /lookup_customer/ })
      .click();
    await watcher.getByText(TOOL_CANARY).waitFor();
    const toolRow = row(page, "Event 4: tool lookup_customer");
    await toolRow.hover();
    await toolRow.getByRole("button", { name: /^Redact/ }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("checkbox", { name: "tool call lookup_customer #4" }).uncheck();
    await dialog.getByLabel("Reason (kept in the tombstone)").fill("personal data in a tool output");
    await dialog.getByRole("button", { name: "Redact", exact: true }).click();
    for (const tab of [page, watcher]) {
      await row(tab, "Event 4: tool lookup_customer")
        .locator(".redacted-note", { hasText: "tool result lookup_customer #5" })
        .waitFor();
      await expect.poll(() => tab.content()).not.toContain(TOOL_CANARY);
    }
    // The call kept its input: only the result was redacted.
    expect(
      (
        await admin<{ items: { redacted?: unknown }[] }>("GET", "/v1/sessions/redact-1/events?userId=alice")
      ).body.items.map((e) => e.redacted !== undefined),
    ).toEqual([false, true, false, false, true, false, false]);

    // A page opened afterwards reads the tombstones from the server.
    const later = await openSession("redact-1");
    await row(later, "Event 2: user message (redacted)").locator(".redacted-reason", { hasText: REASON }).waitFor();
    await expect.poll(() => later.content()).not.toContain(CANARY);
    await later.close();

    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(SCREENSHOTS, "session-redacted.png") });
    await page.close();
    await watcher.close();
  });

  it("a redaction against an old version says so, refreshes, and redacts on the second press", async () => {
    await admin("POST", "/v1/sessions?userId=alice", { id: "redact-2", title: "Raced" });
    await admin("POST", "/v1/sessions/redact-2/events?userId=alice", {
      events: [{ type: "message", role: "user", content: `Oops: ${CANARY}` }],
    });
    const page = await openSession("redact-2");
    const target = row(page, "Event 1: user message");
    await target.hover();
    await target.getByRole("button", { name: /^Redact/ }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Reason (kept in the tombstone)").fill(REASON);
    // Someone else writes meanwhile: the version the dialog opened at is gone.
    const other = await admin("POST", "/v1/sessions/redact-2/events?userId=alice", {
      type: "message",
      role: "assistant",
      content: "Written elsewhere",
    });
    expect(other.status).toBe(201);
    await dialog.getByRole("button", { name: "Redact", exact: true }).click();
    await dialog.getByText("Conflict: the session changed since you opened this dialog").waitFor();
    await dialog.getByText("Nothing was redacted.").waitFor();
    expect(await page.content()).toContain(CANARY);
    // The dialog refreshed the session and kept the reason: the second press redacts.
    await dialog.getByText(/Redacted only if the session is still at version [1-9]/).waitFor();
    await dialog.getByRole("button", { name: "Redact", exact: true }).click();
    await row(page, "Event 1: user message (redacted)").locator(".redacted-reason", { hasText: REASON }).waitFor();
    await expect.poll(() => page.content()).not.toContain(CANARY);
    await page.close();
  });

  it("a prune while the page is open drops the pruned events and shows the marker; a pruned session opens at it", async () => {
    await admin("POST", "/v1/sessions?userId=alice", {
      id: "pruned-1",
      title: "Kept short",
      metadata: { "frontdesk.retention": { keepLastEvents: 10, onlySummarized: false } },
    });
    const say = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ type: "message", role: "user", content: `line ${from + i}` }));
    await admin("POST", "/v1/sessions/pruned-1/events?userId=alice", { events: say(1, 60) });
    const page = await openSession("pruned-1");
    await page.getByText("line 60", { exact: true }).waitFor();

    // Seq 128 checks the policy: 118 events are due, more than a batch, so the session is pruned.
    const more = await admin<{ lastSeq: number }>("POST", "/v1/sessions/pruned-1/events?userId=alice", {
      events: say(61, 70),
    });
    expect(more.status).toBe(201);
    const [first] = (
      await admin<{ items: { seq: number; data?: { throughSeq: number } }[] }>(
        "GET",
        "/v1/sessions/pruned-1/events?userId=alice&limit=1",
      )
    ).body.items;
    const through = first?.data?.throughSeq ?? 0;
    expect(through).toBeGreaterThan(60);

    for (const tab of [page, await openSession("pruned-1")]) {
      await tab.getByText(`Events 1–${through} pruned`, { exact: true }).waitFor();
      await tab.locator(".timeline").evaluate((element) => {
        (element as { scrollTop: number }).scrollTop = 0;
      });
      await tab.getByText(`Events 1–${through} were pruned (retention)`, { exact: true }).waitFor();
      const seqs = (await tab.locator(".ev-seq").allTextContents()).map((text) => Number(text.slice(1)));
      expect(Math.min(...seqs)).toBe(through);
      await expect.poll(() => tab.content()).not.toContain("line 1<");
      await tab.close();
    }
  });
});
