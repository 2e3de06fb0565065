import { FrontdeskClient } from "../../client/http-client.ts";
import { ApiTarget } from "./api-target.ts";
import type { SessionView } from "./types.ts";

/** A running server, through the HTTP client: the same answers and error codes as a store. */
export class RemoteTarget extends ApiTarget {
  readonly kind = "server";

  private constructor(private readonly client: FrontdeskClient) {
    super(client);
  }

  /** Validates the URL; the first request says whether the server is reachable (`unavailable`). */
  static connect(baseUrl: string, apiKey: string): RemoteTarget {
    return new RemoteTarget(new FrontdeskClient({ baseUrl, apiKey }));
  }

  /**
   * Keeps the exported owner, unless `userId` names another, like a store does; the server allows
   * another owner than the key's own only for admin keys (`forbidden` otherwise).
   */
  async importSession(
    lines: AsyncIterable<string>,
    options: { sessionId?: string; userId?: string },
  ): Promise<SessionView> {
    // The request body is the whole export anyway, so reading it first costs nothing extra.
    const collected: string[] = [];
    for await (const line of lines) collected.push(line);
    let userId = options.userId;
    if (userId === undefined) {
      const first = collected.find((line) => line.trim() !== "");
      try {
        const owner = (JSON.parse(first ?? "") as { session?: { userId?: unknown } }).session?.userId;
        if (typeof owner === "string") userId = owner;
      } catch {
        // not JSON: the server answers invalid_request naming the line
      }
    }
    return this.client.importSession(collected, { sessionId: options.sessionId, userId });
  }

  async close(): Promise<void> {}
}
