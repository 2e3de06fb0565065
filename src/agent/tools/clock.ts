import { z } from "zod";
import { type Clock, SYSTEM_CLOCK } from "../../core/clock.ts";
import { FrontdeskError } from "../../core/errors.ts";
import type { Json } from "../../core/model.ts";
import type { ToolHandler } from "./types.ts";

export const clockInputSchema = z.strictObject({
  timeZone: z.string().max(64).optional().describe('An IANA time zone such as "Europe/Paris"; default UTC'),
});

/** The current time from an injectable {@link Clock} (a FakeClock in tests), in UTC and one time zone. */
export function createClockTool(options: { clock?: Clock; timeZone?: string } = {}): ToolHandler {
  const clock = options.clock ?? SYSTEM_CLOCK;
  return (input) => {
    const { timeZone = options.timeZone ?? "UTC" } = clockInputSchema.parse(input ?? {});
    const epochMs = clock.now();
    const date = new Date(epochMs);
    let local: string;
    try {
      local = new Intl.DateTimeFormat("en-US", {
        timeZone,
        dateStyle: "full",
        timeStyle: "long",
      }).format(date);
    } catch {
      throw new FrontdeskError("invalid_request", `Unknown time zone "${timeZone}"`);
    }
    return { iso: date.toISOString(), epochMs, timeZone, local } satisfies Json;
  };
}
