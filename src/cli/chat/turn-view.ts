// How a running turn looks on screen, event by event as the agent streams it. Kept apart from the
// turn itself so that what a reply looks like can change without touching cancellation or approvals.
import type { AgentStreamEvent, TurnResult } from "../../agent/types.ts";
import type { Json } from "../../core/model.ts";
import { contentText, describeCall, describeResult } from "../agents.ts";
import { displayWidth, terminalText, type WordWrapper, writeWrapped } from "../render.ts";
import type { ChatScreen } from "./screen.ts";

/**
 * How one turn looks: the agent's label, its streamed text wrapped at word boundaries, one line
 * per tool call and result. Events are drawn in order through a queue, and a long text is drawn
 * in slices with the event loop free between them, so a huge reply never holds the loop.
 */
export class TurnView {
  private step: number | undefined;
  private inText = false;
  /** Deltas seen since the last assistant message: a model that does not stream gets its text printed whole. */
  private streamed = false;
  private readonly wrapper: WordWrapper;
  private drawn: Promise<void> = Promise.resolve();

  /** `label`: the agent's name, styled, with the `›` after it. */
  constructor(
    private readonly screen: ChatScreen,
    private readonly agentName: string,
    private readonly label: string,
  ) {
    this.wrapper = screen.wrapper();
  }

  event(event: AgentStreamEvent): void {
    this.drawn = this.drawn.then(() => this.draw(event)).catch((error: unknown) => this.screen.error(error));
  }

  /** Resolves once everything received so far is on the screen. */
  idle(): Promise<void> {
    return this.drawn;
  }

  private async draw(event: AgentStreamEvent): Promise<void> {
    const { screen } = this;
    if (event.type === "delta") {
      if (event.text === "") return;
      if (!this.inText || this.step !== event.step) this.startReply();
      this.step = event.step;
      this.inText = true;
      this.streamed = true;
      await this.text(event.text);
      return;
    }
    if (event.type !== "event") return;
    const written = event.event;
    const { palette } = screen;
    switch (written.type) {
      case "tool_call":
        this.endText();
        screen.line(palette.dim(`  → ${terminalText(describeCall(written.tool, written.input as Json))}`));
        break;
      case "tool_result": {
        this.endText();
        const result = describeResult(written);
        const text = `  ← ${terminalText(`${written.tool}: ${result.text}`)}`;
        screen.line(result.ok ? palette.dim(text) : palette.yellow(text));
        break;
      }
      case "message":
        if (written.role === "assistant") {
          const text = contentText(written.content);
          if (!this.streamed && text !== "") {
            this.startReply();
            this.inText = true;
            await this.text(text);
          }
          this.streamed = false;
        }
        break;
      case "summary":
        this.endText();
        screen.line(palette.dim("(the earlier conversation was summarized to fit the context window)"));
        break;
    }
  }

  private text(text: string): Promise<void> {
    return writeWrapped(text, this.wrapper, (out) => this.screen.write(out));
  }

  /** Writes the word held back at the end of the text, if any: something else follows. */
  private endText(): void {
    if (this.inText) this.screen.write(this.wrapper.end());
    this.inText = false;
  }

  private startReply(): void {
    this.endText();
    this.screen.newline();
    this.screen.write(this.label);
    this.wrapper.startAt(displayWidth(this.agentName) + " › ".length);
  }

  /** Waits until everything received is drawn, the held-back word included. */
  async settle(): Promise<void> {
    await this.idle();
    this.endText();
  }

  async finish(result: TurnResult): Promise<void> {
    await this.idle();
    const inText = this.inText;
    const { screen } = this;
    this.endText();
    if (result.finish === "cancelled") {
      if (inText) screen.cancelledMark(this.wrapper.cursor);
      else screen.line(screen.palette.yellow("[cancelled]"));
    } else if (result.finish === "error") {
      screen.report(`${result.error?.code ?? "internal"}: ${result.error?.message ?? "the turn failed"}`);
    }
    screen.newline();
  }
}
