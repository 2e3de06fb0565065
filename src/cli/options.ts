import { InvalidArgumentError } from "commander";
import { SESSION_STATUSES, type SessionStatus } from "../core/model.ts";
import { parseDuration } from "./durations.ts";
import { UsageError } from "./failures.ts";

/** A commander argument parser for an integer in [min, max]; a bad value is a usage error naming the option. */
export const integerOption =
  (min: number, max: number = Number.MAX_SAFE_INTEGER) =>
  (text: string): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return value;
  };

/** Repeatable options (`--tag a --tag b`) collect into an array; commas split too (`--status active,failed`). */
export const collectOption = (text: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== ""),
];

/** A duration option (`30d`, `12h`). */
export const durationOption = (text: string): number => {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

export const parseStatuses = (values: readonly string[] | undefined): SessionStatus[] | undefined => {
  if (values === undefined) return undefined;
  for (const value of values) {
    if (!(SESSION_STATUSES as readonly string[]).includes(value)) {
      throw new UsageError(`Unknown status "${value}": expected one of ${SESSION_STATUSES.join(", ")}`);
    }
  }
  return values as SessionStatus[];
};
