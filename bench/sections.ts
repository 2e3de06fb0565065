/**
 * BENCHMARKS.md is written by more than one benchmark (`npm run bench`, `npm run bench:peers`).
 * Each owns one section between HTML comment markers and replaces only that, so running one never
 * erases the other's numbers.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const markers = (name: string) => ({ start: `<!-- ${name}:start -->`, end: `<!-- ${name}:end -->` });

/**
 * The document with the section `name` set to `body`: replaced in place when its markers are
 * there, otherwise added at the start or the end. Everything outside the section is kept byte for
 * byte.
 */
export function replaceSection(
  document: string,
  name: string,
  body: string,
  options: { whenAbsent?: "start" | "end" } = {},
): string {
  const { start, end } = markers(name);
  const section = `${start}\n${body.trim()}\n${end}`;
  const from = document.indexOf(start);
  const to = document.indexOf(end, from);
  if (from !== -1 && to !== -1) return document.slice(0, from) + section + document.slice(to + end.length);
  if (document.trim() === "") return `${section}\n`;
  return options.whenAbsent === "start"
    ? `${section}\n\n${document.replace(/^\n+/, "")}`
    : `${document.replace(/\n*$/, "")}\n\n${section}\n`;
}

/** Reads the file (absent is empty), replaces one section, writes it back. */
export function writeSection(path: string, name: string, body: string, options?: { whenAbsent?: "start" | "end" }) {
  const document = existsSync(path) ? readFileSync(path, "utf8") : "";
  writeFileSync(path, replaceSection(document, name, body, options));
}
