/**
 * A model the test paces: a local OpenAI-compatible chat-completions server (the wire format
 * Ollama, vLLM and LM Studio speak, reached through the AI SDK's openai-compatible provider, as a
 * real deployment would) that writes each chunk of its reply only when the test releases it. A
 * test can so stop a reply at an exact point (to reload a page, kill a terminal, cut a
 * connection) and let it go on later, with no sleeping and no timing guesses.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface PacedRequest {
  model: string;
  messages: { role: string; content?: unknown; tool_calls?: unknown[]; tool_call_id?: string }[];
  tools?: { type: string; function: { name: string } }[];
}

/** One reply: text (streamed in `chunks` pieces of about equal size), or a tool call, or both. */
export interface PacedReply {
  text?: string;
  toolCall?: { name: string; input: Record<string, unknown> };
  /** How many deltas the text is cut into. @default one per word */
  chunks?: number;
  /** Answer with this HTTP error status instead (a provider failure). */
  failWith?: number;
}

/** Splits `text` into `count` consecutive pieces that join back to it exactly. */
export function cutText(text: string, count?: number): string[] {
  if (count === undefined) return text.match(/\s*\S+\s*/g) ?? (text.length > 0 ? [text] : []);
  const pieces: string[] = [];
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, count)));
  for (let at = 0; at < text.length; at += size) pieces.push(text.slice(at, at + size));
  return pieces;
}

/** A default script: a tool result is answered with its content; anything else with a short reply. */
export const echoScript = (request: PacedRequest): PacedReply => {
  const last = request.messages.at(-1);
  if (last?.role === "tool") return { text: `The tool said ${String(last.content)}.` };
  return { text: `You said: ${typeof last?.content === "string" ? last.content : JSON.stringify(last?.content)}` };
};

/**
 * The agent's `persistDeltas` for paced tests: a piece commit as soon as the test releases a chunk.
 * The default interval (100 ms between piece commits) would add that much to every released chunk.
 */
export const QUICK_PIECES = { intervalMs: 2 } as const;

/** A model entry for a Frontdesk config that reaches this server. */
export const pacedModelConfig = (url: string) => ({
  provider: "openai-compatible" as const,
  model: "paced-1",
  baseUrl: url,
  contextWindow: 32_000,
});

export class PacedModel {
  readonly requests: PacedRequest[] = [];
  /** Chunks written so far, over every request. */
  written = 0;
  url = "";
  script: (request: PacedRequest) => PacedReply = echoScript;
  private budget = 0;
  private unlimited = false;
  private server: Server | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly open = new Set<ServerResponse>();

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    return this;
  }

  async stop(): Promise<void> {
    this.unlimited = true;
    this.wake();
    for (const response of this.open) response.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Lets `count` more chunks out (over whichever replies are streaming). */
  release(count = 1): void {
    this.budget += count;
    this.wake();
  }

  /** Streams freely from now on (until `hold`). */
  free(): void {
    this.unlimited = true;
    this.wake();
  }

  /** Writes nothing more until `release` or `free`. */
  hold(): void {
    this.unlimited = false;
    this.budget = 0;
  }

  /** Resolves once `check` holds (checked after each chunk written and each request). */
  async until(check: (model: this) => boolean, what = "the paced model", timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (written ${this.written})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) waiter();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"message":"not found"}}');
      return;
    }
    const body = JSON.parse(raw) as PacedRequest;
    this.requests.push(body);
    this.wake();
    const reply = this.script(body);
    if (reply.failWith !== undefined) {
      res.writeHead(reply.failWith, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ error: { message: `paced model failure ${reply.failWith}`, type: "invalid_request_error" } }),
      );
      return;
    }
    this.open.add(res);
    res.once("close", () => {
      this.open.delete(res);
      this.wake();
    });
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const base = { id: `chatcmpl-${this.requests.length}`, object: "chat.completion.chunk", created: 1767225600 };
    const chunk = (delta: object, finish: string | null = null) => ({
      ...base,
      model: body.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    const frames: object[] = [chunk({ role: "assistant", content: "" })];
    for (const piece of cutText(reply.text ?? "", reply.chunks)) frames.push(chunk({ content: piece }));
    if (reply.toolCall) {
      const call = { index: 0, id: `call_${this.requests.length}`, type: "function" };
      frames.push(
        chunk({
          tool_calls: [
            { ...call, function: { name: reply.toolCall.name, arguments: JSON.stringify(reply.toolCall.input) } },
          ],
        }),
      );
    }
    frames.push(chunk({}, reply.toolCall ? "tool_calls" : "stop"));
    frames.push({
      ...base,
      model: body.model,
      choices: [],
      usage: { prompt_tokens: 20, completion_tokens: frames.length, total_tokens: 20 + frames.length },
    });
    // The role frame and the closing frames are free: only the content is paced.
    const paced = new Set(frames.slice(1, reply.toolCall ? -3 : -2));
    for (const frame of frames) {
      if (paced.has(frame)) {
        while (!this.unlimited && this.budget <= 0) {
          if (res.destroyed) return;
          await new Promise<void>((resolve) => this.waiters.add(resolve));
        }
        if (!this.unlimited) this.budget--;
      }
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(frame)}\n\n`);
      if (paced.has(frame)) {
        this.written++;
        this.wake();
      }
    }
    res.end("data: [DONE]\n\n");
  }
}
