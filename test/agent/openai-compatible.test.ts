import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AgentSession, parseConfig, readAgentRecord } from "../../src/agent/index.ts";
import { eventsOf, type Harness, openHarness, Recorder, STORES } from "./helpers.ts";

interface ChatRequest {
  headers: IncomingMessage["headers"];
  body: {
    model: string;
    stream?: boolean;
    stream_options?: { include_usage?: boolean };
    messages: { role: string; content?: unknown; tool_calls?: unknown[]; tool_call_id?: string }[];
    tools?: { type: string; function: { name: string; parameters: unknown } }[];
  };
}

/**
 * A local stand-in for an OpenAI-compatible server (Ollama, vLLM, LM Studio): it speaks the real
 * chat-completions streaming format, Server-Sent Events of `chat.completion.chunk` objects with
 * `tool_calls` deltas split across chunks, and a final usage chunk (stream_options.include_usage).
 */
class FakeChatServer {
  readonly requests: ChatRequest[] = [];
  private server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      let raw = "";
      req.on("data", (chunk) => {
        raw += chunk;
      });
      req.on("end", () => {
        if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
          res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"message":"not found"}}');
          return;
        }
        const body = JSON.parse(raw) as ChatRequest["body"];
        this.requests.push({ headers: req.headers, body });
        res.writeHead(200, {
          "content-type": "text/event-stream",
          "cache-control": "no-cache",
          connection: "keep-alive",
        });
        for (const chunk of this.reply(body)) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        res.end("data: [DONE]\n\n");
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private reply(body: ChatRequest["body"]): object[] {
    const base = {
      id: `chatcmpl-${this.requests.length}`,
      object: "chat.completion.chunk",
      created: 1767225600,
      model: body.model,
    };
    const chunk = (delta: object, finish: string | null = null) => ({
      ...base,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    const usage = (prompt: number, completion: number) => ({
      ...base,
      choices: [],
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
    });
    const last = body.messages.at(-1);
    if (last?.role === "tool") {
      const result = JSON.parse(String(last.content)) as { result: number };
      return [
        chunk({ role: "assistant", content: "" }),
        chunk({ content: "The answer " }),
        chunk({ content: `is ${result.result}.` }),
        chunk({}, "stop"),
        usage(80, 6),
      ];
    }
    if (String(last?.content ?? "").includes("2+3*4")) {
      return [
        chunk({
          role: "assistant",
          content: null,
          tool_calls: [
            { index: 0, id: "call_wire1", type: "function", function: { name: "calculator", arguments: "" } },
          ],
        }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '{"expression":' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '"2+3*4"}' } }] }),
        chunk({}, "tool_calls"),
        usage(50, 12),
      ];
    }
    return [
      chunk({ role: "assistant", content: "Hello " }),
      chunk({ content: "from the wire." }),
      chunk({}, "stop"),
      usage(30, 4),
    ];
  }
}

describe.each(STORES)("the OpenAI-compatible wire path ($name store)", (storeCase) => {
  const server = new FakeChatServer();
  let h: Harness;
  beforeAll(async () => {
    await server.start();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    server.requests.length = 0;
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const config = () =>
    parseConfig(
      {
        defaultAgent: "local",
        agents: { local: { model: "llama", tools: ["calculator"], systemPrompt: "You are a test agent." } },
        models: {
          llama: {
            provider: "openai-compatible",
            model: "llama-test",
            baseUrl: server.url,
            apiKeyEnv: "LOCAL_LLM_KEY",
            contextWindow: 8192,
            costPer1kInput: 1,
            costPer1kOutput: 2,
          },
        },
      },
      { env: { LOCAL_LLM_KEY: "sekret" } },
    );

  it("completes a tool-using turn through a streaming chat-completions server and records its usage", async () => {
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config: config(), clock: h.clock });
    const recorder = new Recorder();
    const result = await agent.runTurn("compute 2+3*4", { onEvent: recorder.listener });

    expect(result.finish).toBe("complete");
    expect(result.text).toBe("The answer is 14.");
    expect(recorder.deltas()).toEqual(["The answer ", "is 14."]);

    // What went over the wire.
    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests;
    expect(first?.headers.authorization).toBe("Bearer sekret");
    expect(first?.body).toMatchObject({ model: "llama-test", stream: true, stream_options: { include_usage: true } });
    expect(first?.body.tools?.map((tool) => tool.function.name)).toEqual(["calculator"]);
    expect(first?.body.messages.map((message) => message.role)).toEqual(["system", "user"]);
    expect(second?.body.messages.map((message) => message.role)).toEqual(["system", "user", "assistant", "tool"]);
    expect(second?.body.messages[3]).toMatchObject({ tool_call_id: "call_wire1" });

    // What was written.
    const events = await eventsOf(h.sessions);
    expect(events.find((event) => event.type === "tool_result")).toMatchObject({
      tool: "calculator",
      status: "success",
      output: { expression: "2+3*4", result: 14 },
    });
    const replies = events.filter((event) => event.type === "message" && event.role === "assistant");
    expect(replies.map((event) => (event as { usage?: unknown }).usage)).toEqual([
      { inputTokens: 50, outputTokens: 12, totalTokens: 62, costUsd: 0.074 },
      { inputTokens: 80, outputTokens: 6, totalTokens: 86, costUsd: 0.092 },
    ]);
    expect(replies[0]).toMatchObject({
      model: "llama-test",
      content: [
        { type: "tool-call", toolCallId: "call_wire1", toolName: "calculator", input: { expression: "2+3*4" } },
      ],
    });
    const stats = (await h.sessions.get("s1")).stats;
    expect(stats).toMatchObject({ inputTokens: 130, outputTokens: 18, toolCalls: 1, toolsUsed: ["calculator"] });
    expect(stats.costUsd).toBeCloseTo(0.166, 9);

    // The stored history replays as valid chat-completions messages on the next turn.
    const next = await agent.runTurn("hi");
    expect(next.text).toBe("Hello from the wire.");
    expect(server.requests[2]?.body.messages.map((message) => message.role)).toEqual([
      "system",
      "user",
      "assistant",
      "tool",
      "assistant",
      "user",
    ]);
  });

  it("fails initialization with a clear error when the model's API key is not set", async () => {
    const raw = {
      defaultAgent: "local",
      agents: { local: { model: "llama", tools: [] } },
      models: {
        llama: {
          provider: "openai-compatible",
          model: "llama-test",
          baseUrl: server.url,
          apiKeyEnv: "LOCAL_LLM_KEY",
          contextWindow: 8192,
        },
      },
    };
    const agent = new AgentSession({
      sessions: h.sessions,
      sessionId: "s1",
      config: parseConfig(raw, { env: {} }),
      env: {},
    });
    await expect(agent.initialize()).rejects.toMatchObject({
      code: "invalid_request",
      message: expect.stringContaining("$LOCAL_LLM_KEY"),
    });
    expect(agent.phase).toBe("error");
    expect((await readAgentRecord(h.sessions, "s1"))?.phase).toBe("error");
    expect(server.requests).toHaveLength(0);
  });
});
