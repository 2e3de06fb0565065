/**
 * The user message a turn starts with, checked before the turn takes the lock: content the AI SDK
 * would refuse later must never reach the log, where it would break every later turn.
 */
import { userModelMessageSchema } from "ai";
import { FrontdeskError } from "../../core/errors.ts";
import type { JsonObject } from "../../core/model.ts";

/** A user message: text, or AI SDK / OpenAI content parts (each with a `type`). */
export type TurnInput = string | { content: string | readonly Record<string, unknown>[] };

/** The message as stored: its text, or its parts as plain JSON. Throws `invalid_request` for anything else. */
export function normalizeInput(input: TurnInput): string | JsonObject[] {
  const content = typeof input === "string" ? input : input?.content;
  if (typeof content === "string") {
    if (content.trim() === "") throw new FrontdeskError("invalid_request", "The message is empty");
    return content;
  }
  if (!Array.isArray(content) || content.length === 0) {
    throw new FrontdeskError("invalid_request", "A message is text or a non-empty array of content parts");
  }
  for (const part of content) {
    if (part === null || typeof part !== "object" || typeof (part as { type?: unknown }).type !== "string") {
      throw new FrontdeskError("invalid_request", "Every content part needs a string `type`");
    }
  }
  const parts = JSON.parse(JSON.stringify(content)) as JsonObject[];
  // Parts the AI SDK would refuse would be stored and then break every later turn of the session.
  const checked = userModelMessageSchema.safeParse({ role: "user", content: parts });
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const where =
      issue && issue.path.length > 1
        ? ` (content${issue.path
            .slice(1)
            .map((p) => `[${String(p)}]`)
            .join("")})`
        : "";
    throw new FrontdeskError(
      "invalid_request",
      `The message's content parts are not valid user content (text, image or file parts)${where}`,
    );
  }
  return parts;
}
