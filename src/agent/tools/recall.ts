import { z } from "zod";
import { yieldToEventLoop } from "../../core/event-loop.ts";
import type { JsonObject, MessagePayload, SessionEvent } from "../../core/model.ts";
import type { ToolHandler } from "./types.ts";

export const recallInputSchema = z.strictObject({
  query: z.string().min(1).max(200).describe("Words to look for in the user's earlier messages"),
  limit: z.number().int().min(1).max(20).optional().describe("At most this many matches (default 5)"),
});

export interface RecallOptions {
  /** Sessions searched, most recently updated first. @default 50 */
  maxSessions?: number;
  /** Newest messages read per session. @default 200 */
  messagesPerSession?: number;
}

/**
 * Searches the text of the caller's own sessions. It reads through the tool context's
 * SessionManager, which is bound to the session's owner, and always names that owner explicitly:
 * another user's sessions are never listed nor read, even on a manager without a bound user.
 */
export function createRecallTool(options: RecallOptions = {}): ToolHandler {
  const maxSessions = options.maxSessions ?? 50;
  const perSession = options.messagesPerSession ?? 200;
  return async (input, context) => {
    const { query, limit = 5 } = recallInputSchema.parse(input);
    const words = [
      ...new Set(
        query
          .toLowerCase()
          .split(/\s+/)
          .filter((word) => word.length > 0),
      ),
    ];
    const owner = context.userId;
    const matches: JsonObject[] = [];
    let searched = 0;
    let cursor: string | undefined;
    // Up to maxSessions × perSession messages of up to 256 KiB each are read: the loop gets a turn
    // every few milliseconds instead of waiting for the whole search.
    let sliceEnd = performance.now() + SLICE_MS;
    outer: while (searched < maxSessions) {
      const page = await context.sessions.listSessions({
        userId: owner,
        orderBy: "updatedAt",
        order: "desc",
        limit: Math.min(50, maxSessions - searched),
        cursor,
      });
      for (const session of page.items) {
        if (session.userId !== owner) continue; // defence in depth: never another owner's session
        if (context.signal.aborted) break outer;
        searched++;
        const events = await context.sessions.readEvents(
          { id: session.id, userId: owner },
          { types: ["message"], last: perSession },
        );
        for (const event of [...events].reverse()) {
          if (performance.now() > sliceEnd) {
            await yieldToEventLoop();
            if (context.signal.aborted) break outer;
            sliceEnd = performance.now() + SLICE_MS;
          }
          if (session.id === context.sessionId && event.seq >= context.turnStartSeq) continue; // the question itself
          const message = event as SessionEvent & MessagePayload;
          if (message.role !== "user" && message.role !== "assistant") continue;
          const text = textOf(message.content as JsonObject[] | string);
          if (text === "") continue;
          const lower = text.toLowerCase();
          if (!words.every((word) => lower.includes(word))) continue;
          matches.push({
            sessionId: session.id,
            title: session.title,
            seq: event.seq,
            at: new Date(event.at).toISOString(),
            role: message.role,
            excerpt: excerpt(text, lower.indexOf(words[0] as string)),
          });
          if (matches.length >= limit) break outer;
        }
      }
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return { query, matches, searchedSessions: searched };
  };
}

const SLICE_MS = 4;

const excerpt = (text: string, at: number): string => {
  const start = Math.max(0, at - 60);
  const end = Math.min(text.length, at + 140);
  return `${start > 0 ? "…" : ""}${text.slice(start, end).replace(/\s+/g, " ").trim()}${end < text.length ? "…" : ""}`;
};

/** The words of a message: its text, or its text parts (tool calls and results are not conversation). */
const textOf = (content: string | readonly JsonObject[]): string =>
  typeof content === "string"
    ? content
    : content
        .filter((part) => part.type === "text" && typeof part.text === "string")
        .map((part) => part.text as string)
        .join("\n");
