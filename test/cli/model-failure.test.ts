/**
 * A model that cannot be reached fails the turn with its own code, `provider_unavailable`, naming
 * the model as the user wrote it: never `tool_error`. Through `frontdesk run` against an
 * OpenAI base URL on a local port that refuses connections.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/core/model.ts";
import { closedPort } from "../support/ports.ts";
import { lines, run, tempStore, withManager } from "./harness.ts";

const temp = tempStore();
afterAll(() => temp.remove());

describe("frontdesk run against a provider that refuses connections", () => {
  it("--model openai:… exits 1 with provider_unavailable naming openai:gpt-4o-mini; the error status says so too", async () => {
    const port = await closedPort();
    const baseUrl = `http://127.0.0.1:${port}/v1`;
    const file = join(temp.dir, "empty.json");
    writeFileSync(file, "{}");
    const result = await run(["run", "--store", temp.url, "--config", file, "--model", "openai:gpt-4o-mini", "hello"], {
      env: { OPENAI_API_KEY: "sk-test", FRONTDESK_MODEL_BASE_URL: baseUrl },
    });
    expect(result.code).toBe(1);
    const errors = lines(result.stderr).filter((line) => line.startsWith("frontdesk: "));
    expect(errors).toEqual([
      `frontdesk: provider_unavailable: The model openai:gpt-4o-mini could not be reached at ${baseUrl} (2 attempts): Cannot connect to API: connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
    expect(result.stderr).not.toContain("tool_error");

    const id = /^session ([0-9a-f]{32})$/m.exec(result.stderr)?.[1] as string;
    const events = await withManager(temp.url, (manager) => manager.readEvents({ id, userId: "local" }));
    expect(events.at(-1)).toMatchObject({
      type: "status",
      scope: "agent",
      status: "error",
      reason: `turn failed: ${errors[0]?.slice("frontdesk: ".length)}`,
    } satisfies Partial<SessionEvent>);
  });

  it("a configured model is named by its key and its provider model", async () => {
    const port = await closedPort();
    const baseUrl = `http://127.0.0.1:${port}/v1`;
    const file = join(temp.dir, "local.json");
    writeFileSync(
      file,
      JSON.stringify({
        models: { local: { provider: "openai-compatible", model: "llama3", baseUrl, contextWindow: 4096 } },
        agents: { assistant: { model: "local", tools: [] } },
      }),
    );
    const result = await run(["run", "--store", temp.url, "--config", file, "--json", "hello"], { env: {} });
    expect(result.code).toBe(1);
    const done = lines(result.stdout)
      .map((line) => JSON.parse(line) as { type: string; error?: unknown })
      .find((line) => line.type === "done");
    expect(done).toMatchObject({
      finish: "error",
      error: {
        code: "provider_unavailable",
        message: `The model "local" (openai-compatible:llama3) could not be reached at ${baseUrl} (2 attempts): Cannot connect to API: connect ECONNREFUSED 127.0.0.1:${port}`,
      },
    });
  });
});
