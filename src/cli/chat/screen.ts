// The chat's screen: the one place that writes to stdout and stderr. It knows whether the cursor
// sits at the start of a line, so that the prompt, streamed replies, tool lines and errors each
// start on a line of their own without blank lines between them.
import { FrontdeskError } from "../../core/errors.ts";
import { colorEnabled, createPalette, type Palette } from "../colors.ts";
import { describeFailure, UsageError } from "../failures.ts";
import type { CliIo } from "../io.ts";
import { terminalText, WordWrapper } from "../render.ts";

export class ChatScreen {
  readonly palette: Palette;
  private atLineStart = true;

  constructor(private readonly io: CliIo) {
    this.palette = createPalette(colorEnabled(io.stdout, io.env));
  }

  /** A prompt is shown: the cursor sits after it. */
  promptShown(): void {
    this.atLineStart = false;
  }

  /** A line was typed at the prompt: the terminal has moved to the next line itself. */
  lineTyped(): void {
    this.atLineStart = true;
  }

  write(text: string): void {
    if (text === "" || this.io.stdout.destroyed) return;
    this.io.stdout.write(text);
    this.atLineStart = text.endsWith("\n");
  }

  /** Ends the current line unless the cursor is at the start of one. */
  newline(): void {
    if (!this.atLineStart) this.write("\n");
  }

  line(text: string): void {
    this.newline();
    this.write(`${text}\n`);
  }

  /** One line on stderr, `error: <code>: <message>`, for every error the chat survives. */
  error(error: unknown): void {
    this.newline();
    // A malformed command at the prompt is a bad request like any other, not a bad command line.
    const failure = error instanceof UsageError ? new FrontdeskError("invalid_request", error.message) : error;
    this.report(describeFailure(failure).line.replace(/^frontdesk: /, ""));
  }

  /** `error: <code>: <message>` on stderr, on a line of its own. */
  report(codeAndMessage: string): void {
    this.newline();
    const line = terminalText(codeAndMessage.replace(/\s+/g, (run) => (run.includes("\n") ? " " : run)));
    if (!this.io.stderr.destroyed) this.io.stderr.write(`${this.palette.red("error:")} ${line}\n`);
  }

  /**
   * The width replies wrap at: the terminal's columns, read at each use so a resized window is
   * followed. None when stdout is not a terminal (a transcript in a file keeps its lines whole).
   */
  columns(): number | undefined {
    const stdout = this.io.stdout as { isTTY?: boolean; columns?: number };
    return stdout.isTTY === true && typeof stdout.columns === "number" && stdout.columns > 0
      ? stdout.columns
      : undefined;
  }

  /** A word wrapper at this chat's width. */
  wrapper(): WordWrapper {
    return new WordWrapper(() => this.columns());
  }

  /**
   * `label` (already styled, `labelWidth` columns wide), then `text` wrapped at word boundaries,
   * then `[cancelled]` when the reply was cut off.
   */
  paragraph(
    label: string,
    labelWidth: number,
    text: string,
    options: { style?: (text: string) => string; cancelled?: boolean } = {},
  ): void {
    const wrapper = this.wrapper();
    wrapper.startAt(labelWidth);
    const body = wrapper.push(text) + wrapper.end();
    this.newline();
    this.write(`${label}${options.style ? options.style(body) : body}`);
    if (options.cancelled) this.cancelledMark(wrapper.cursor);
    this.newline();
  }

  /** `[cancelled]` after text ending at `column`: on the same line if it fits. */
  cancelledMark(column: number): void {
    const mark = "[cancelled]";
    const width = this.columns();
    const fits = width === undefined || column + 1 + mark.length <= width;
    this.write(`${fits ? " " : "\n"}${this.palette.yellow(mark)}`);
  }
}
