import { countTokens as countBpeTokens } from "gpt-tokenizer";
import { yieldToEventLoop } from "../core/event-loop.ts";
import type { Json } from "../core/model.ts";

/**
 * Token counting with a real BPE tokenizer (gpt-tokenizer, o200k_base). Other providers tokenize
 * differently, so counts are a close estimate for them; windows keep a margin for that.
 *
 * BPE costs the square of the length of each piece it merges (a piece is what the tokenizer's own
 * split leaves: a word, a run of digits, of punctuation or of spaces), so an unbroken run of one
 * letter would take minutes for a MiB. The text is split the same way first and handed over in
 * chunks of whole pieces, which keeps the count exact; only a piece longer than
 * {@link MAX_PIECE_CHARS} characters is counted as its slices of that length, which may count about
 * one token more or less per slice. The cost is then linear in the length of the text.
 * Special-token text such as `<|endoftext|>` counts as the plain text it is.
 */
export const countTokens = (text: string): number => {
  if (text.length === 0) return 0;
  const known = recall(text);
  if (known !== undefined) return known;
  return remember(text, new TokenCount(text).run(Number.POSITIVE_INFINITY));
};

/**
 * {@link countTokens}, giving the event loop a turn every few milliseconds: a long text (a MiB
 * takes about a tenth of a second) never holds the loop in one piece. Same count.
 */
export const countTokensAsync = async (text: string): Promise<number> => {
  if (text.length <= ASYNC_MIN_CHARS) return countTokens(text);
  const known = recall(text);
  if (known !== undefined) return known;
  const count = new TokenCount(text);
  for (;;) {
    const sliceEnd = performance.now() + SLICE_MS;
    while (!count.done && performance.now() < sliceEnd) count.run(STEP_CHARS);
    if (count.done) return remember(text, count.total);
    await yieldToEventLoop();
  }
};

/*
 * Every turn sends the whole history window again, and its messages never change, so counts are
 * kept instead of being tokenized again on each turn: short texts by number (oldest dropped first),
 * long ones within a bound on the characters they hold. A long text is looked up by the string
 * itself, whose hash V8 keeps with it, so asking again about the same message costs nothing.
 */
const recall = (text: string): number | undefined =>
  text.length > MEMO_MAX_TEXT ? longMemo.get(text) : memo.get(text);

const remember = (text: string, count: number): number => {
  if (text.length <= MEMO_MAX_TEXT) {
    if (memo.size >= MEMO_ENTRIES) memo.delete(memo.keys().next().value as string);
    memo.set(text, count);
  } else if (text.length <= LONG_MEMO_CHARS / 4) {
    longMemo.set(text, count);
    longMemoChars += text.length;
    while (longMemoChars > LONG_MEMO_CHARS) {
      const oldest = longMemo.keys().next().value as string;
      longMemo.delete(oldest);
      longMemoChars -= oldest.length;
    }
  }
  return count;
};

/** Longest piece BPE merges whole; longer ones are counted in slices of this many characters. */
export const MAX_PIECE_CHARS = 64;
/** Whole pieces handed to the tokenizer at once. */
const CHUNK_CHARS = 4096;
/** Text the piece split looks at in one go. */
const WINDOW_CHARS = 16 * 1024;
/** Text counted between checks of the clock in {@link countTokensAsync}. */
const STEP_CHARS = 16 * 1024;
const SLICE_MS = 4;
const ASYNC_MIN_CHARS = 16 * 1024;
const MEMO_ENTRIES = 20_000;
const MEMO_MAX_TEXT = 8_192;
const memo = new Map<string, number>();
/** Characters of the long texts whose counts are kept (they are held, so this bounds the memory). */
const LONG_MEMO_CHARS = 8 * 1024 * 1024;
const longMemo = new Map<string, number>();
let longMemoChars = 0;

/** User text may hold `<|endoftext|>` and the like: it is counted as text, as providers encode it. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
const countPlain = (text: string): number => countBpeTokens(text, PLAIN_TEXT);

/**
 * o200k_base's own pre-tokenization split (gpt-tokenizer applies the same pattern before BPE), so
 * chunks cut between its pieces count exactly as the whole text would.
 */
const PIECES =
  /[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE]))?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE]))?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/** A count in progress over one text, advanced a bounded amount at a time. */
class TokenCount {
  total = 0;
  done = false;
  /** Start of the run of whole pieces not yet counted. */
  private chunkStart = 0;
  /** The pieces are looked for in a window of the text, so one step never scans more than that. */
  private window = "";
  private windowStart = 0;
  private readonly pieces = new RegExp(PIECES.source, PIECES.flags);
  /** What is left of a piece too long to merge whole, counted a slice at a time. */
  private longFrom = 0;
  private longEnd = 0;

  constructor(private readonly text: string) {}

  /** Counts about `chars` more characters (or to the end); returns the total so far. */
  run(chars: number): number {
    const { text } = this;
    let budget = chars;
    while (!this.done && budget > 0) {
      if (this.longFrom < this.longEnd) {
        budget -= this.countSlice();
        continue;
      }
      const position = this.windowStart + this.pieces.lastIndex;
      if (position >= text.length) {
        this.flush(text.length);
        this.done = true;
        break;
      }
      if (this.pieces.lastIndex >= this.window.length) this.moveWindow(position);
      const match = this.pieces.exec(this.window);
      if (match === null) {
        // Nothing more in this window (every character belongs to some piece, so this is its end).
        this.moveWindow(this.windowStart + this.window.length);
        continue;
      }
      const start = this.windowStart + match.index;
      const end = start + match[0].length;
      if (end === this.windowStart + this.window.length && end < text.length && end - start <= MAX_PIECE_CHARS) {
        // The piece may go on past the window: look again from where it starts (the window is far
        // longer than such a piece, so it is found whole then).
        this.moveWindow(start);
        continue;
      }
      budget -= end - position;
      if (end - start > MAX_PIECE_CHARS) {
        this.flush(start);
        this.longFrom = start;
        this.longEnd = end;
        this.chunkStart = end;
      } else if (end - this.chunkStart >= CHUNK_CHARS) {
        this.flush(end);
      }
    }
    return this.total;
  }

  private moveWindow(position: number): void {
    this.window = this.text.slice(position, position + WINDOW_CHARS);
    this.windowStart = position;
    this.pieces.lastIndex = 0;
  }

  /** Counts the whole pieces from the chunk start up to `end`. */
  private flush(end: number): void {
    if (end > this.chunkStart) this.total += countPlain(this.text.slice(this.chunkStart, end));
    this.chunkStart = end;
  }

  private countSlice(): number {
    const from = this.longFrom;
    let to = Math.min(this.longEnd, from + MAX_PIECE_CHARS);
    // Never cut a surrogate pair in two: half a character would count as a replacement character.
    if (to < this.longEnd && isLowSurrogate(this.text.charCodeAt(to))) to--;
    this.total += countPlain(this.text.slice(from, to));
    this.longFrom = to;
    return to - from;
  }
}

const isLowSurrogate = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;

/** Per-message overhead of chat formats (role markers, separators). */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** The text a message's content contributes to the prompt: text parts, tool calls and results as JSON. */
export const contentText = (content: string | readonly Json[] | readonly Record<string, unknown>[]): string => {
  if (typeof content === "string") return content;
  const pieces: string[] = [];
  for (const raw of content) {
    const part = raw as Record<string, unknown> | null;
    if (part === null || typeof part !== "object") continue;
    if (part.type === "text" || part.type === "reasoning") pieces.push(String(part.text ?? ""));
    else if (part.type === "tool-call") pieces.push(`${String(part.toolName)} ${JSON.stringify(part.input ?? null)}`);
    else if (part.type === "tool-result") pieces.push(JSON.stringify(part.output ?? null));
    else pieces.push(JSON.stringify(part));
  }
  return pieces.join("\n");
};

export const countContentTokens = (content: string | readonly Json[] | readonly Record<string, unknown>[]): number =>
  countTokens(contentText(content)) + MESSAGE_OVERHEAD_TOKENS;

/** {@link countContentTokens} that yields to the event loop while counting a long message. */
export const countContentTokensAsync = async (
  content: string | readonly Json[] | readonly Record<string, unknown>[],
): Promise<number> => (await countTokensAsync(contentText(content))) + MESSAGE_OVERHEAD_TOKENS;
