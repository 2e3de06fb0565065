/**
 * examples/ag-ui/run.mjs as a user runs it: HttpAgent against a real server started on the
 * example's own config (the calculator asks for approval), taking the URL and key from the env.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { agentConfigFrom } from "../../src/agent/config.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type RunningServer, startServer } from "../../src/server/listen.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { api } from "./agent-helpers.ts";

const root = resolve(import.meta.dirname, "../..");
const example = join(root, "examples/ag-ui");
const run = promisify(execFile);

describe("examples/ag-ui/run.mjs", () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it("runs a turn, answers the approval through resume, and reloads the same thread", async () => {
    const store = createMemoryStore();
    const key = (await createApiKey(store, { userId: "alice" })).key;
    const config = agentConfigFrom(JSON.parse(readFileSync(join(example, "frontdesk.config.json"), "utf8")), {});
    server = await startServer({ store, port: 0, logger: false, agents: { config } });
    // Asynchronous: the server answering it lives in this process.
    const { stdout } = await run(process.execPath, [join(example, "run.mjs"), "compute 2+3*4"], {
      cwd: root,
      env: { ...process.env, FRONTDESK_URL: server.url, FRONTDESK_KEY: key, FRONTDESK_THREAD: "example-thread" },
    });
    expect(stdout).toBe(
      [
        "thread example-thread",
        "user: compute 2+3*4",
        "assistant: Let me calculate that.",
        'tool call: calculator {"expression":"2+3*4"}',
        "run finished: interrupt",
        'approval asked: Approve running the tool "calculator"? {"expression":"2+3*4"}',
        "approved",
        "",
        'tool result: {"expression":"2+3*4","result":14}',
        "assistant: 2+3*4 = 14",
        "run finished: success",
        'reloaded: 4 messages, ["user","assistant","tool","assistant"]',
        "same as the first client: true",
        "agent phase: idle",
        "",
      ].join("\n"),
    );
    // What it did is in the session: the approval answered, the tool run once.
    const events = (await api(server, key, "GET", "/v1/sessions/example-thread/events?limit=1000")).body
      .items as SessionEvent[];
    expect(events.filter((event) => event.type === "approval_response")).toMatchObject([{ decision: "approve" }]);
    expect(events.filter((event) => event.type === "tool_result")).toMatchObject([{ status: "success" }]);
  });
});
