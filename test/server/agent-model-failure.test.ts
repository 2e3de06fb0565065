/**
 * A turn whose model fails ends with the failure's own code in its `done` frame and in its `error`
 * status event, naming the model: `provider_unavailable` when the provider cannot be reached,
 * `model_error` when it refuses the request. Over HTTP on a real socket, with an OpenAI-compatible
 * base URL on a closed local port, and one on a local server that answers 401.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/agent/config.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { closedPort } from "../support/ports.ts";
import { api, doneOf, openWorld, postTurn, STORE_KINDS, streamedEvents, type World } from "./agent-helpers.ts";

const memory = STORE_KINDS.find((kind) => kind.name === "memory");
if (!memory) throw new Error("no memory store kind");

const configFor = (baseUrl: string) =>
  parseConfig({
    models: { local: { provider: "openai-compatible", model: "llama3", baseUrl, contextWindow: 4096 } },
    agents: { assistant: { model: "local", tools: [] } },
  });

describe("a model failure in a turn over HTTP", () => {
  let world: World;
  let refusing: Server | undefined;
  beforeEach(async () => {
    world = await openWorld(memory);
  });
  afterEach(async () => {
    await world.close();
    await new Promise((resolve) => (refusing ? refusing.close(resolve) : resolve(undefined)));
    refusing = undefined;
  });

  const turnOn = async (baseUrl: string) => {
    const server = await world.instance({ agents: { config: configFor(baseUrl) } });
    expect((await api(server, world.keys.alice, "POST", "/v1/sessions", { id: "s1" })).status).toBe(201);
    const stream = await postTurn(server, world.keys.alice, "s1", { message: "hello" });
    expect(stream.status).toBe(200);
    const messages = await stream.ended;
    const status = streamedEvents(messages).at(-1) as SessionEvent;
    return { done: doneOf(messages), status };
  };

  it("an unreachable provider: provider_unavailable, naming the model", async () => {
    const port = await closedPort();
    const baseUrl = `http://127.0.0.1:${port}/v1`;
    const { done, status } = await turnOn(baseUrl);
    const message = `The model "local" (openai-compatible:llama3) could not be reached at ${baseUrl} (2 attempts): Cannot connect to API: connect ECONNREFUSED 127.0.0.1:${port}`;
    expect(done).toMatchObject({ status: "error", code: "provider_unavailable", message });
    expect(status).toMatchObject({
      type: "status",
      status: "error",
      reason: `turn failed: provider_unavailable: ${message}`,
    });
  });

  it("a provider that refuses the request (HTTP 401): model_error, naming the model", async () => {
    refusing = createHttpServer((_request, response) => {
      response.writeHead(401, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: "Incorrect API key provided", type: "invalid_request_error" } }));
    });
    await new Promise<void>((resolve) => refusing?.listen(0, "127.0.0.1", resolve));
    const { port } = refusing.address() as { port: number };
    const { done, status } = await turnOn(`http://127.0.0.1:${port}/v1`);
    expect(done).toMatchObject({
      status: "error",
      code: "model_error",
      message:
        'The model "local" (openai-compatible:llama3) refused the request: the provider answered HTTP 401: Incorrect API key provided',
    });
    expect(status).toMatchObject({ status: "error", reason: expect.stringMatching(/^turn failed: model_error: /) });
  });
});
