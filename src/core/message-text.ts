/**
 * The text of a message's content, as people read it: the string itself, or its `text` parts
 * joined (tool calls, files and other parts are not text). Stored messages, AI SDK UI message
 * parts and AG-UI content all take this shape.
 */
export function textOfContent(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter(
      (part: { type?: unknown; text?: unknown } | null): part is { type: "text"; text: string } =>
        part?.type === "text" && typeof part.text === "string",
    )
    .map((part) => part.text)
    .join("");
}
