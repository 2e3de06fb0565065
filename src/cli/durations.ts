import { UsageError } from "./failures.ts";

const UNIT_MS = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
} as const;

/**
 * Parses an age such as `30d`, `12h`, `15m`, `90s`, `500ms` or `1d12h` into milliseconds. A bare
 * number is refused: `30` could mean seconds or days, and a retention cleanup must not guess.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let match: RegExpExecArray | null = pattern.exec(trimmed);
  while (match !== null) {
    total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
    matched = pattern.lastIndex;
    match = pattern.exec(trimmed);
  }
  if (trimmed === "" || matched !== trimmed.length) {
    throw new UsageError(`Invalid duration "${text}": use a number with a unit (ms, s, m, h, d, w), e.g. 30d or 12h`);
  }
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) throw new UsageError(`Invalid duration "${text}": too large`);
  return ms;
}

/** `1d 2h`, `15m`, `0s`: the largest two units, for people. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = Math.floor(ms / 1000);
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0) parts.push(`${count}${unit}`);
  }
  return parts.slice(0, 2).join(" ");
}
