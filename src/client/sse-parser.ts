/** One Server-Sent Events message (WHATWG HTML §9.2.6); comments are dropped. */
export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * Incremental `text/event-stream` parser: feed it decoded text in any chunking, get whole
 * messages. Lines may end in LF, CR or CRLF; a CRLF split across chunks is handled.
 */
export class SseParser {
  private buffer = "";
  private id: string | undefined;
  private event = "";
  private data: string[] = [];
  private hasData = false;
  private skipLf = false;
  /** Bytes of one message the parser will hold before giving up (a bounded buffer). */
  constructor(private readonly maxMessageChars = 64 * 1024 * 1024) {}

  push(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    let text = chunk;
    if (this.skipLf && text.startsWith("\n")) text = text.slice(1);
    this.skipLf = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.buffer.slice(start, i);
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLf = true;
        }
      }
      start = i + 1;
      const message = this.line(line);
      if (message) out.push(message);
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > this.maxMessageChars) throw new Error("An event stream message is too large");
    return out;
  }

  private line(line: string): SseMessage | undefined {
    if (line === "") {
      if (!this.hasData) {
        this.event = "";
        return undefined;
      }
      const message = { id: this.id, event: this.event || "message", data: this.data.join("\n") };
      this.event = "";
      this.data = [];
      this.hasData = false;
      return message;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.event = value;
        break;
      case "data":
        this.data.push(value);
        this.hasData = true;
        break;
      case "id":
        if (!value.includes("\u0000")) this.id = value;
        break;
      default:
        break;
    }
    return undefined;
  }
}
