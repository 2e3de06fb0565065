/**
 * White space tested one UTF-16 unit at a time, for the text walks that replace regexes which
 * cost quadratic time on long runs (`/\s+$/` and the like): exactly what `\s` matches.
 */
export const isWhitespace = (code: number): boolean =>
  (code >= 9 && code <= 13) ||
  code === 32 ||
  code === 0xa0 ||
  code === 0x1680 ||
  (code >= 0x2000 && code <= 0x200a) ||
  code === 0x2028 ||
  code === 0x2029 ||
  code === 0x202f ||
  code === 0x205f ||
  code === 0x3000 ||
  code === 0xfeff;
