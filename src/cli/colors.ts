import type { Writable } from "node:stream";
import { isInteractive } from "./io.ts";

/** ANSI foreground codes of the colour names an agent's `color` may use. */
const NAMED: Readonly<Record<string, number>> = {
  black: 30,
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  cyan: 36,
  white: 37,
  gray: 90,
  grey: 90,
  brightred: 91,
  brightgreen: 92,
  brightyellow: 93,
  brightblue: 94,
  brightmagenta: 95,
  brightcyan: 96,
  brightwhite: 97,
};

/** Colours for agents that name none, picked by the agent's name so each keeps its own. */
const AGENT_DEFAULTS = ["cyan", "magenta", "yellow", "green", "blue"] as const;

/** The opening escape sequence of a colour name (`cyan`, `bright-red`, `redBright`, `#ff8800`, `#f80`), or undefined. */
export function colorCode(color: string | undefined): string | undefined {
  if (color === undefined) return undefined;
  const name = color
    .trim()
    .toLowerCase()
    .replace(/[\s_-]/g, "");
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/.exec(name);
  if (hex) {
    const digits = (hex[1] as string).length === 3 ? [...(hex[1] as string)].map((d) => d + d).join("") : hex[1];
    const [r, g, b] = [0, 2, 4].map((i) => Number.parseInt((digits as string).slice(i, i + 2), 16));
    return `\x1b[38;2;${r};${g};${b}m`;
  }
  const code = NAMED[name] ?? (name.endsWith("bright") ? NAMED[`bright${name.slice(0, -6)}`] : undefined);
  return code === undefined ? undefined : `\x1b[${code}m`;
}

/** The colour of an agent: its configured `color`, else one picked from its name. */
export function agentColor(name: string, configured: string | undefined): string {
  if (configured !== undefined && colorCode(configured) !== undefined) return configured;
  let hash = 0;
  for (const char of name) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  return AGENT_DEFAULTS[hash % AGENT_DEFAULTS.length] as string;
}

export interface Palette {
  readonly enabled: boolean;
  /** `text` in a named colour (see {@link colorCode}); plain when colour is off or the name is unknown. */
  paint(color: string | undefined, text: string): string;
  dim(text: string): string;
  bold(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  green(text: string): string;
}

/**
 * Colour only for a person at a terminal: never when `stream` is not a TTY, when `NO_COLOR` is set
 * (https://no-color.org) or `TERM=dumb`; `FORCE_COLOR` (not `0`) turns it on regardless.
 */
export function colorEnabled(stream: Writable, env: NodeJS.ProcessEnv): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== "" && force !== "0" && force !== "false") return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.TERM === "dumb") return false;
  return isInteractive(stream);
}

export function createPalette(enabled: boolean): Palette {
  const wrap = (open: string | undefined, text: string, close = "\x1b[39m"): string =>
    enabled && open !== undefined && text !== "" ? `${open}${text}${close}` : text;
  return {
    enabled,
    paint: (color, text) => wrap(colorCode(color), text),
    dim: (text) => wrap("\x1b[2m", text, "\x1b[22m"),
    bold: (text) => wrap("\x1b[1m", text, "\x1b[22m"),
    red: (text) => wrap("\x1b[31m", text),
    yellow: (text) => wrap("\x1b[33m", text),
    green: (text) => wrap("\x1b[32m", text),
  };
}
