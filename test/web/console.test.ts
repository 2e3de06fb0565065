/**
 * The web console in a real browser (Debian's chromium through playwright-core) against a real
 * `frontdesk serve` process. Needs `npm run build`, `npx vite build --config src/web/vite.config.ts`
 * and .ci/browser. Every wait is for something to appear, never for time to pass.
 */
import { mkdirSync, readFileSync } from "node:fs";
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
import { seedConversation, seedManyEvents, seedSessions } from "./seed.ts";

/** The offline model asks before every calculator call, so a turn meets an approval. */
const AGENT_CONFIG = {
  // The tests seed through the API faster than the default 100 requests per second.
  limits: { requestsPerSecond: 2000 },
  agents: {
    assistant: {
      model: "offline",
      systemPrompt: "You are a test assistant.",
      tools: ["calculator", "clock"],
      approval: { calculator: "ask" },
    },
  },
};

let serve: ServeProcess;
let browser: Browser;
let context: BrowserContext;
let admin: ReturnType<typeof apiClient>;
let bobKey: string;
let bob: ReturnType<typeof apiClient>;

beforeAll(async () => {
  assertPrerequisites();
  [serve, browser] = await Promise.all([startServe({ config: AGENT_CONFIG }), launchBrowser()]);
  admin = apiClient(serve.apiUrl, serve.adminKey);
  bobKey = serve.createKey("bob");
  bob = apiClient(serve.apiUrl, bobKey);
  await seedSessions(admin, ["alice", "bob", "carol"]);
  await seedConversation(admin, "alice", "refund-4821");
  context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
}, 90_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await serve?.stop();
});

/** Reads a streamed body until `pattern` shows up (or it ends); returns what was read. */
async function readUntil(response: Response, pattern: RegExp): Promise<string> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += value;
    if (pattern.test(text)) {
      await reader.cancel();
      return text;
    }
  }
}

async function newPage(): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => {
    throw new Error(`page error: ${error.message}`);
  });
  return page;
}

const rows = (page: Page) => page.locator('[role="table"] [role="row"][data-index]');

describe("web console", () => {
  it("refuses a bad key, signs in with an admin key, lists every user's sessions", async () => {
    const page = await newPage();
    await page.goto(`${serve.url}/`);
    await page.getByLabel("API key").fill("fd_not_a_real_key_000000000000000000000000");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("The server does not accept this key").waitFor();

    await page.getByLabel("API key").fill(serve.adminKey);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Admin key").waitFor();
    await rows(page).first().waitFor();
    // Three users' sessions, and the admin's user filter.
    await expect
      .poll(async () => (await page.locator('[role="cell"].col-1').allTextContents()).some((u) => u === "carol"))
      .toBe(true);
    await page.getByLabel("User", { exact: true }).waitFor();
    // The key lives in sessionStorage only.
    const stored = await page.evaluate("JSON.stringify([sessionStorage.length, localStorage.length, document.cookie])");
    expect(JSON.parse(stored as string)).toEqual([1, 0, ""]);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, "sessions-list.png") });

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").waitFor();
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    await page.close();
  });

  it("filters the list by status, tags, text and user", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await rows(page).first().waitFor();

    await page.getByRole("checkbox", { name: "failed" }).check();
    await expect
      .poll(() => page.locator('[role="row"] .badge').allTextContents())
      .toEqual(["failed", "failed", "failed"]);
    expect(page.url()).toContain("status=failed");

    await page.getByRole("checkbox", { name: "failed" }).uncheck();
    await page.getByLabel("Tags").fill("urgent");
    await page.getByLabel("Search").fill("printer");
    await expect
      .poll(() => page.locator(".row-link").allTextContents())
      .toEqual(["Printer on fire (T-1042)", "Printer on fire (T-1042)", "Printer on fire (T-1042)"]);

    await page.getByLabel("User", { exact: true }).fill("bob");
    await expect.poll(() => page.locator('[role="cell"].col-1').allTextContents()).toEqual(["bob"]);

    await page.getByLabel("Search").fill("no such session anywhere");
    await page.getByText("No sessions match these filters").waitFor();
    await page.getByRole("button", { name: "Clear filters" }).first().click();
    await expect.poll(() => rows(page).count()).toBeGreaterThan(10);
    await page.close();
  });

  it("a user key sees only its own sessions, without the user filter", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, bobKey);
    await page.getByText("User key").waitFor();
    await rows(page).first().waitFor();
    expect(new Set(await page.locator('[role="cell"].col-1').allTextContents())).toEqual(new Set(["bob"]));
    expect(await page.getByLabel("User", { exact: true }).count()).toBe(0);
    await page.close();
  });

  it("pages through a thousand sessions by cursor as you scroll, keeping the DOM small", async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `bulk-${String(i).padStart(4, "0")}`);
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(
        ids.slice(i, i + 50).map((id) => admin("POST", "/v1/sessions?userId=erin", { id, title: `Bulk ${id}` })),
      );
    }
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.getByLabel("User", { exact: true }).fill("erin");
    await page.waitForURL(/user=erin/);
    await page.getByText("100 sessions loaded, more as you scroll").waitFor();
    await rows(page).first().focus();
    for (let loaded = 200; loaded <= 1000; loaded += 100) {
      await page.keyboard.press("End");
      await page.getByText(`${loaded.toLocaleString("en")} sessions loaded`).waitFor();
    }
    await page.getByText("1,000 sessions loaded", { exact: false }).waitFor();
    expect(await page.locator(".page-sub").textContent()).toBe("Live · 1,000 sessions loaded");
    expect(await rows(page).count()).toBeLessThan(60);
    await page.keyboard.press("End");
    await expect.poll(() => page.evaluate("document.activeElement.textContent")).toContain("Bulk bulk-0000");
    await page.close();
  });

  it("shows sessions created by another client as they appear", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await rows(page).first().waitFor();
    await bob("POST", "/v1/sessions", { title: "Created while you watched", tags: ["live"] });
    await page.locator(".row-link", { hasText: "Created while you watched" }).waitFor({ timeout: 15_000 });
    await page.close();
  });

  it("opens a session from the keyboard, follows new events live, without gaps or duplicates", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.getByLabel("Search").fill("Refund for order");
    await page.getByLabel("User", { exact: true }).fill("alice");
    await page.waitForURL(/user=alice/);
    await expect.poll(() => rows(page).count()).toBe(2);
    await rows(page).first().focus();
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowUp");
    await expect.poll(() => page.evaluate("document.activeElement.textContent")).toContain("Support agent handling");
    await page.keyboard.press("Enter");

    await page.getByRole("heading", { name: "Refund for order #4821", level: 1 }).waitFor();
    // It opens at the newest events.
    await page.getByText("About $140.29").waitFor();
    await page.locator(".follow-live").waitFor();

    // Reading further up, new events are announced rather than scrolled to.
    await page.locator(".timeline").evaluate((element) => {
      (element as { scrollTop: number }).scrollTop = 0;
    });
    await page.getByText("Hi! My order").waitFor();
    const appended = await admin<{ seqs: number[] }>("POST", "/v1/sessions/refund-4821/events?userId=alice", {
      events: [
        { type: "message", role: "user", content: "Appended by **another client**" },
        { type: "message", role: "assistant", content: "And a reply, also live." },
      ],
    });
    expect(appended.status).toBe(201);
    await page.getByRole("button", { name: "2 new events ↓" }).click();
    await page.getByText("And a reply, also live.").waitFor();
    const seqs = (await page.locator(".ev-seq").allTextContents()).filter((t) => t.startsWith("#"));
    expect(new Set(seqs).size).toBe(seqs.length);
    const [first, last] = appended.body.seqs as [number, number];
    expect(seqs).toContain(`#${first}`);
    expect(seqs).toContain(`#${last}`);
    // The header (version, stats, last seq) follows.
    await page.locator(".facts dd", { hasText: `#${last}` }).waitFor();

    // A tool card opens to show its error; the approval shows its answer.
    await page.locator(".timeline").evaluate((element) => {
      (element as { scrollTop: number }).scrollTop = 0;
    });
    await page.locator("article", { hasText: "Approval answered" }).evaluate((element) => {
      (element as { scrollIntoView(options: object): void }).scrollIntoView({ block: "start" });
    });
    await page.getByRole("button", { name: /send_email/ }).click();
    await page.getByText("SMTP relay timed out after 1200 ms").waitFor();
    await page.mouse.move(0, 0);
    await page.evaluate("document.activeElement?.blur()");
    await page.screenshot({ path: path.join(SCREENSHOTS, "session-page.png") });
    await page.getByRole("tab", { name: "Statistics" }).click();
    await page.getByRole("img", { name: /Tokens per turn/ }).waitFor();
    await page.getByRole("img", { name: "Latency per tool" }).waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, "session-stats.png") });
    await page.close();
  });

  it("resumes the live stream after the server restarts, with no gap and no duplicate", async () => {
    await admin("POST", "/v1/sessions?userId=alice", { id: "resume-1", title: "Survives a restart" });
    await admin("POST", "/v1/sessions/resume-1/events?userId=alice", {
      events: [1, 2, 3].map((n) => ({ type: "message", role: "user", content: `before restart ${n}` })),
    });
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/resume-1?user=alice`);
    await page.getByText("before restart 3").waitFor();
    await page.locator(".follow-live").waitFor();

    // The stream is cut (SIGTERM drains it); events written right after the restart, before the
    // console is back, reach it by replay from Last-Event-ID.
    await serve.restart();
    await admin("POST", "/v1/sessions/resume-1/events?userId=alice", {
      events: [4, 5, 6].map((n) => ({ type: "message", role: "assistant", content: `after restart ${n}` })),
    });
    await page.getByText("after restart 6").waitFor({ timeout: 20_000 });
    await page.getByText("6 events", { exact: true }).waitFor();
    const seqs = await page.locator(".ev-seq").allTextContents();
    expect(seqs).toEqual(["#1", "#2", "#3", "#4", "#5", "#6"]);
    await page.locator(".follow-live").waitFor();
    await page.close();
  });

  it("forks at an event into a new session", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/refund-4821?user=alice`);
    await page.getByText("About $140.29").waitFor();
    await page.locator(".timeline").evaluate((element) => {
      (element as { scrollTop: number }).scrollTop = 0;
    });
    const userMessage = page.locator("article", { hasText: "arrived broken" });
    const seq = Number((await userMessage.locator(".ev-seq").textContent())?.slice(1));
    await userMessage.hover();
    await userMessage.getByRole("button", { name: `Fork here at event ${seq}` }).click();
    await page.getByText("forked from").waitFor();
    const forkId = decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1)!);
    expect(forkId).not.toBe("refund-4821");
    const fork = await admin<{ lastSeq: number; parent: unknown }>("GET", `/v1/sessions/${forkId}?userId=alice`);
    expect(fork.body.lastSeq).toBe(seq);
    expect(fork.body.parent).toEqual({ sessionId: "refund-4821", seq });
    await page.getByText("arrived broken").waitFor();
    await page.close();
  });

  it("completes, exports as NDJSON and deletes a session (after confirming)", async () => {
    await admin("POST", "/v1/sessions?userId=bob", { id: "short-lived", title: "Short-lived" });
    await admin("POST", "/v1/sessions/short-lived/events?userId=bob", {
      type: "message",
      role: "user",
      content: "one message",
    });
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/short-lived?user=bob`);
    await page.getByText("one message").waitFor();

    await page.getByRole("button", { name: "Complete" }).click();
    await page.locator(".session-title-row .badge", { hasText: "completed" }).waitFor();
    await page.getByRole("button", { name: "Reactivate" }).waitFor();

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export NDJSON" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe("short-lived.ndjson");
    const file = await download.path();
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ kind: "session", session: { id: "short-lived", status: "completed" } });
    expect(lines[1]).toMatchObject({ kind: "event", event: { seq: 1, content: "one message" } });

    await page.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete this session?" });
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect((await admin("GET", "/v1/sessions/short-lived?userId=bob")).status).toBe(200);
    await page.getByRole("button", { name: "Delete" }).click();
    await dialog.getByRole("button", { name: "Delete session" }).click();
    await page.getByText("Deleted session short-lived.").waitFor();
    await page.getByRole("heading", { name: "Sessions", level: 1 }).waitFor();
    expect((await admin("GET", "/v1/sessions/short-lived?userId=bob")).status).toBe(404);
    await page.close();
  });

  it("an edit made against an old version says there is a conflict and offers to reload", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/refund-4821?user=alice`);
    await page.getByRole("button", { name: "Edit title & tags" }).click();
    await page.getByLabel("Title", { exact: true }).fill("Renamed in the console");
    // Someone else changes the session meanwhile.
    const other = await admin("PATCH", "/v1/sessions/refund-4821?userId=alice", { title: "Changed elsewhere" });
    expect(other.status).toBe(200);
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Conflict: this session was changed by someone else").waitFor();
    await page.getByRole("button", { name: "Reload latest" }).click();
    await page.getByText("Changed elsewhere").first().waitFor();
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { name: "Renamed in the console", level: 1 }).waitFor();
    await page.close();
  });

  it("renders markdown but never runs scripts from content", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await admin("POST", "/v1/sessions?userId=alice", { id: "xss", title: "Hostile content" });
    await admin("POST", "/v1/sessions/xss/events?userId=alice", {
      events: [
        {
          type: "message",
          role: "assistant",
          content:
            "**rendered bold**\n\n<script>window.__pwned = 'script'</script>\n\n" +
            '<img src="x" onerror="window.__pwned = \'img\'">\n\n' +
            "[a link](javascript:window.__pwned='link')\n\n<svg><script>window.__pwned='svg'</script></svg>",
        },
        { type: "custom", name: "<img src=x onerror=alert(1)>", data: { html: "<script>window.__pwned=1</script>" } },
      ],
    });
    await page.goto(`${serve.url}/sessions/xss?user=alice`);
    await page.locator(".markdown strong", { hasText: "rendered bold" }).waitFor();
    await page.getByText("a link").click();
    expect(await page.evaluate("typeof window.__pwned")).toBe("undefined");
    expect(await page.locator(".timeline script, .timeline [onerror], .timeline a[href^='javascript']").count()).toBe(
      0,
    );
    await page.close();
  });

  it("shows a user's message as typed, and keeps arithmetic intact in the assistant's markdown", async () => {
    await admin("POST", "/v1/sessions?userId=alice", { id: "arithmetic", title: "Arithmetic" });
    await admin("POST", "/v1/sessions/arithmetic/events?userId=alice", {
      events: [
        { type: "message", role: "user", content: "compute 3*4*5 and **not bold**\n  indented _as typed_" },
        {
          type: "message",
          role: "assistant",
          content: "3*4*5 = 60, (2+3)*(4+5) = 45 and 2*x*y stay arithmetic; **bold** and *emphasis* still render.",
        },
      ],
    });
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/arithmetic?user=alice`);
    const user = page.locator(".ev-role-user .bubble");
    await user.waitFor();
    // Verbatim: every character, line breaks kept, no markdown elements at all.
    expect(await user.innerText()).toBe("compute 3*4*5 and **not bold**\n  indented _as typed_");
    expect(await user.locator("strong, em").count()).toBe(0);

    const reply = page.locator(".ev-role-assistant .markdown");
    await reply.waitFor();
    expect(await reply.innerText()).toBe(
      "3*4*5 = 60, (2+3)*(4+5) = 45 and 2*x*y stay arithmetic; bold and emphasis still render.",
    );
    expect(await reply.locator("strong").allTextContents()).toEqual(["bold"]);
    expect(await reply.locator("em").allTextContents()).toEqual(["emphasis"]);
    await page.close();
  });

  it("starts a conversation from New session: title, tags, owner and a first message run as a turn", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.getByRole("button", { name: "New session" }).click();
    const dialog = page.getByRole("dialog", { name: "New session" });
    await dialog.getByLabel("Title").fill("Multiplication");
    await dialog.getByLabel("Tags, separated by commas").fill("math, demo, math");
    await dialog.getByLabel("For user").fill("frank");
    await dialog.getByLabel("First message").fill("compute 3*4*5");
    await page.screenshot({ path: path.join(SCREENSHOTS, "new-session.png") });
    await dialog.getByRole("button", { name: "Create and send" }).click();

    await page.getByRole("heading", { name: "Multiplication", level: 1 }).waitFor();
    expect(new URL(page.url()).searchParams.get("user")).toBe("frank");
    const id = decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1)!);
    // The first message ran as a turn: the calculator asks first here, as configured.
    const pending = page.getByRole("region", { name: "Waiting for approval" });
    await pending.getByText("calculator").waitFor();
    expect(await page.locator(".ev-role-user .bubble").innerText()).toBe("compute 3*4*5");
    await pending.getByRole("button", { name: "Approve" }).click();
    await page.locator(".ev-role-assistant .markdown", { hasText: "3*4*5 = 60" }).waitFor();
    await page.getByRole("button", { name: "Send" }).waitFor();
    expect(await page.locator(".ev-role-assistant .markdown em").count()).toBe(0);

    const created = await admin<{ title: string; tags: string[]; userId: string }>(
      "GET",
      `/v1/sessions/${encodeURIComponent(id)}?userId=frank`,
    );
    expect(created.body).toMatchObject({ title: "Multiplication", tags: ["math", "demo"], userId: "frank" });
    const events = await admin<{ items: { type: string; role?: string; content?: unknown }[] }>(
      "GET",
      `/v1/sessions/${encodeURIComponent(id)}/events?userId=frank`,
    );
    const users = events.body.items.filter((event) => event.type === "message" && event.role === "user");
    expect(users.map((event) => event.content)).toEqual(["compute 3*4*5"]);
    // Reloading the page does not send the first message again.
    await page.reload();
    await page.locator(".ev-role-assistant .markdown", { hasText: "3*4*5 = 60" }).waitFor();
    expect(await page.locator(".ev-role-user").count()).toBe(1);
    await page.close();
  });

  it("New session without a message creates an empty session; a refused create says why and keeps the form", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, bobKey);
    await page.keyboard.press("n");
    const dialog = page.getByRole("dialog", { name: "New session" });
    // A user key creates only its own sessions: no owner field.
    expect(await dialog.getByLabel("For user").count()).toBe(0);
    await dialog.getByLabel("Tags, separated by commas").fill("x".repeat(200));
    await dialog.getByRole("button", { name: "Create" }).click();
    await dialog.getByRole("alert").waitFor();
    expect(await dialog.getByLabel("Title").isVisible()).toBe(true);

    await dialog.getByLabel("Tags, separated by commas").fill("quiet");
    await dialog.getByLabel("Title").fill("Nothing said yet");
    await dialog.getByRole("button", { name: "Create", exact: true }).click();
    await page.getByRole("heading", { name: "Nothing said yet", level: 1 }).waitFor();
    const id = decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1)!);
    const created = await bob<{ lastSeq: number; tags: string[] }>("GET", `/v1/sessions/${encodeURIComponent(id)}`);
    expect(created.body).toMatchObject({ lastSeq: 0, tags: ["quiet"] });
    await page.close();
  });

  it("answers 404 for a session that does not exist", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/nothing-here?user=alice`);
    await page.getByRole("heading", { name: "Session not found" }).waitFor();
    await page.getByRole("link", { name: "Back to sessions" }).click();
    await rows(page).first().waitFor();
    await page.close();
  });

  it("goes back to sign-in when the key is revoked", async () => {
    const daveKey = serve.createKey("dave");
    const page = await newPage();
    await signInAs(page, serve.url, daveKey);
    serve.revokeKeysOf("dave");
    // The list's next refresh is refused.
    await page.getByText("Your API key is no longer accepted").waitFor({ timeout: 15_000 });
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    await page.close();
  });

  it("shows a banner while the server cannot be reached, and recovers", async () => {
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await rows(page).first().waitFor();
    await context.setOffline(true);
    await page.getByText("Can't reach the Frontdesk server").waitFor({ timeout: 15_000 });
    await context.setOffline(false);
    await page.getByRole("button", { name: "Retry now" }).click();
    await page.getByText("Can't reach the Frontdesk server").waitFor({ state: "detached", timeout: 15_000 });
    await page.close();
  });

  it("opens a session of 5,000 events and scrolls it with a bounded DOM", async () => {
    await seedManyEvents(admin, "alice", "long-5000", 5000);
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/long-5000?user=alice`);
    await page.getByText("Message number 5000").waitFor();
    expect(await page.locator(".timeline-row").count()).toBeLessThan(80);
    await page.locator(".timeline").evaluate((element) => {
      (element as { scrollTop: number }).scrollTop = 0;
    });
    await page.getByText("Message number 1", { exact: true }).waitFor();
    expect(await page.locator(".timeline-row").count()).toBeLessThan(80);
    await page.close();
  });

  it("opens a session of big events, read past the server's 4 MiB page", async () => {
    // 30 custom events of 200 KiB (6 MiB, more than one page of the events route holds), then
    // 1,000 small ones: the first range of 1,000 the console reads spans pages, and no live
    // stream fills what it would miss.
    await admin("POST", "/v1/sessions?userId=alice", { id: "big-events", title: "big events" });
    for (let start = 1; start <= 30; start += 3) {
      const events = [start, start + 1, start + 2].map((k) => ({
        type: "custom",
        name: `big-event-${k}`,
        data: { blob: String.fromCharCode(97 + (k % 26)).repeat(200 * 1024) },
      }));
      expect((await admin("POST", "/v1/sessions/big-events/events?userId=alice", { events })).status).toBe(201);
    }
    const small = Array.from({ length: 1000 }, (_, i) => ({ type: "custom", name: `small-event-${31 + i}` }));
    expect((await admin("POST", "/v1/sessions/big-events/events?userId=alice", { events: small })).status).toBe(201);

    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/big-events?user=alice`);
    await page.getByText("small-event-1030", { exact: true }).waitFor();
    const timeline = page.locator(".timeline");
    await timeline.evaluate((element) => {
      (element as { scrollTop: number }).scrollTop = 0;
    });
    await page.getByText("big-event-1", { exact: true }).waitFor();
    // Down past the big events, one screen at a time: each of them and the first small one show.
    for (const name of ["big-event-21", "big-event-30", "small-event-31"]) {
      for (let step = 0; !(await page.getByText(name, { exact: true }).isVisible()); step++) {
        expect(step, `${name} never shows`).toBeLessThan(40);
        await timeline.evaluate((element) => {
          (element as { scrollTop: number }).scrollTop += 200;
        });
        // Two animation frames: the virtual list renders the rows scrolled to.
        await page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))");
      }
    }
    await page.close();
  });

  it("follows the turns contract: streamed text, turn events, an approval answered (scripted agent)", async () => {
    const session = "/v1/sessions/chat-scripted";
    await admin("POST", "/v1/sessions?userId=alice", { id: "chat-scripted", title: "Scripted turn" });
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    // The test plays the agent: it answers the console's detached POST /v1/sessions/{id}/turns with
    // 202 after writing the turn's events through the API (the reply's first pieces as turn.delta
    // events, as the agent streams them); the console reads them from the events stream.
    await page.route(`**${session}/turns*`, async (route) => {
      const { message, detach } = JSON.parse(route.request().postData() ?? "{}") as {
        message: string;
        detach?: boolean;
      };
      expect(detach).toBe(true);
      const written = await admin<{ events: { seq: number; type: string }[] }>(
        "POST",
        `${session}/events?userId=alice`,
        {
          events: [
            { type: "message", role: "user", content: message, turnId: "turn-1" },
            {
              type: "custom",
              name: "turn.delta",
              data: { turnId: "turn-1", step: 0, part: "text", text: "Let me " },
              // As the agent does: the turn holds the session's lock while it runs.
              stateDelta: { "process:agent": { turn: { id: "turn-1", startedAt: Date.now() } } },
            },
            {
              type: "custom",
              name: "turn.delta",
              data: { turnId: "turn-1", step: 0, part: "text", text: "calculate" },
            },
            { type: "message", role: "assistant", content: "Let me calculate" },
            {
              type: "tool_call",
              invocationId: "inv-1",
              tool: "calculator",
              input: { expression: "2+3*4" },
            },
            {
              type: "approval_request",
              approvalId: "ap-1",
              invocationId: "inv-1",
              tool: "calculator",
              input: { expression: "2+3*4" },
            },
          ],
        },
      );
      const startSeq = written.body.events[0]?.seq;
      await route.fulfill({
        status: 202,
        contentType: "application/json",
        body: JSON.stringify({ turnId: "turn-1", startSeq }),
      });
    });
    let decision: string | undefined;
    await page.route(`**${session}/approvals/ap-1*`, async (route) => {
      decision = (JSON.parse(route.request().postData() ?? "{}") as { decision: string }).decision;
      await admin("POST", `${session}/events?userId=alice`, {
        events: [
          { type: "approval_response", approvalId: "ap-1", decision },
          {
            type: "tool_result",
            invocationId: "inv-1",
            tool: "calculator",
            status: "success",
            durationMs: 2,
            output: { value: 14 },
          },
          { type: "message", role: "assistant", content: "2+3*4 = **14**", stateDelta: { "process:agent": null } },
        ],
      });
      await route.fulfill({ status: 200, contentType: "application/json", body: "{}" });
    });

    await page.goto(`${serve.url}/sessions/chat-scripted?user=alice`);
    await page.getByLabel("Message the agent").fill("compute 2+3*4");
    await page.getByLabel("Message the agent").press("Enter");
    const pending = page.getByRole("region", { name: "Waiting for approval" });
    await pending.getByText("calculator").waitFor();
    await page.getByText("compute 2+3*4").waitFor();
    // The streamed pieces are the reply being written, not timeline rows: the text shows once.
    await page.locator(".ev-role-assistant .markdown", { hasText: "Let me calculate" }).waitFor();
    expect(await page.getByText("Let me calculate").count()).toBe(1);
    expect(await page.locator(".custom-card").count()).toBe(0);
    await pending.getByRole("button", { name: "Approve" }).click();
    await page.locator(".ev-role-assistant .markdown", { hasText: "2+3*4 = 14" }).waitFor();
    expect(decision).toBe("approve");
    await pending.waitFor({ state: "detached" });
    await page.locator(".approval-answer", { hasText: "Approved" }).waitFor();
    await page.locator(".tool-card .badge", { hasText: "success" }).waitFor();
    await page.close();
  });

  it("offers an approval only while a turn holds the lock: a fork of a waiting turn shows it closed", async () => {
    const waiting = [
      { type: "message", role: "user", content: "compute 6*7" },
      { type: "tool_call", invocationId: "inv-w", tool: "calculator", input: { expression: "6*7" } },
      { type: "approval_request", approvalId: "ap-w", invocationId: "inv-w", tool: "calculator", input: {} },
    ];
    await admin("POST", "/v1/sessions?userId=alice", { id: "waiting-turn", title: "Waiting" });
    await admin("POST", "/v1/sessions/waiting-turn/events?userId=alice", {
      events: [
        { type: "state", stateDelta: { "process:agent": { turn: { id: "turn-w", startedAt: Date.now() } } } },
        ...waiting,
      ],
    });
    const forked = await admin("POST", "/v1/sessions/waiting-turn/fork?userId=alice", { id: "waiting-fork" });
    expect(forked.status).toBe(201);
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);

    await page.goto(`${serve.url}/sessions/waiting-turn?user=alice`);
    const pending = page.getByRole("region", { name: "Waiting for approval" });
    await pending.getByRole("button", { name: "Approve" }).waitFor();
    await page.locator(".approval-pending", { hasText: "Approval needed" }).waitFor();

    await page.goto(`${serve.url}/sessions/waiting-fork?user=alice`);
    await page.locator(".approval-closed", { hasText: "no turn is waiting for it" }).waitFor();
    expect(await pending.count()).toBe(0);
    expect(await page.getByRole("button", { name: "Approve" }).count()).toBe(0);
    await page.close();
  });

  it("runs a real agent turn, its reply streaming into the timeline", async () => {
    await admin("POST", "/v1/sessions?userId=alice", { id: "chat-1", title: "Chat with the assistant" });
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/chat-1?user=alice`);
    await page.getByLabel("Message the agent").fill("hello there");
    await page.getByLabel("Message the agent").press("Enter");
    await page.locator(".ev-role-user .verbatim", { hasText: "hello there" }).waitFor();
    await page.locator(".ev-role-assistant .markdown", { hasText: "deterministic stand-in" }).waitFor();
    await page.getByRole("button", { name: "Send" }).waitFor();
    // The streamed draft gave way to the persisted message: one assistant reply, no leftover draft.
    expect(await page.locator(".ev-draft").count()).toBe(0);
    expect(await page.locator(".ev-role-assistant").count()).toBe(1);
    await page.close();
  });

  it("a real turn waits for an approval given in the console; another is stopped", async () => {
    // Does this server's agent ask before the calculator (serve given AGENT_CONFIG)? Ask it once.
    await admin("POST", "/v1/sessions?userId=alice", { id: "approval-probe" });
    const response = await fetch(`${serve.apiUrl}/v1/sessions/approval-probe/turns?userId=alice`, {
      method: "POST",
      headers: { authorization: `Bearer ${serve.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ message: "compute 1+1" }),
    });
    const text = response.ok ? await readUntil(response, /event: (approval_request|done)/) : "";
    await admin("POST", "/v1/sessions/approval-probe/cancel?userId=alice", {});
    // serve was given a config whose calculator asks first: the probe must have stopped at the approval.
    expect(text).toContain("event: approval_request");
    await admin("POST", "/v1/sessions?userId=alice", { id: "chat-approval", title: "Approvals" });
    const page = await newPage();
    await signInAs(page, serve.url, serve.adminKey);
    await page.goto(`${serve.url}/sessions/chat-approval?user=alice`);
    const box = page.getByLabel("Message the agent");
    const pending = page.getByRole("region", { name: "Waiting for approval" });

    await box.fill("compute 2+3*4");
    await box.press("Enter");
    await pending.getByText("calculator").waitFor();
    await page.getByRole("button", { name: "Stop" }).waitFor();
    await pending.getByRole("button", { name: "Approve" }).click();
    await page.locator(".ev-role-assistant .markdown", { hasText: "2+3*4 = 14" }).waitFor();
    await page.getByRole("button", { name: "Send" }).waitFor();
    await page.locator(".approval-answer", { hasText: "Approved" }).waitFor();

    await box.fill("compute 6*7");
    await box.press("Enter");
    await pending.getByText("calculator").waitFor();
    await page.getByRole("button", { name: "Stop" }).click();
    await page.getByText("The turn was cancelled.").waitFor();
    await pending.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Send" }).waitFor();
    await page.close();
  });
});
