/**
 * Message text as markdown: parsed by marked, then sanitized by DOMPurify before it touches the
 * DOM. Scripts, event handler attributes, `javascript:` links, forms, styles and frames are
 * removed; links open in a new tab without a referrer. The server's Content-Security-Policy (no
 * inline scripts) is a second wall behind this one.
 */
import DOMPurify from "dompurify";
import { Marked, type Tokens } from "marked";
import { memo } from "react";

const marked = new Marked({ gfm: true, breaks: true, async: false });

const isDigit = (char: string): boolean => char >= "0" && char <= "9";
const isWordChar = (char: string): boolean => /^[\p{L}\p{N}]$/u.test(char);

/**
 * Whether a run of `*` sits inside arithmetic rather than around emphasis: `3*4*5`, `2*x`,
 * `x*2`, `(a+b)*(c+d)`. CommonMark allows intraword `*` emphasis, so without this `3*4*5 = 60`
 * renders as "3<em>4</em>5 = 60" and the reader loses the multiplication.
 */
export const isArithmeticStar = (before: string, after: string): boolean =>
  (isDigit(before) && (isWordChar(after) || after === "(")) ||
  (isDigit(after) && (isWordChar(before) || before === ")")) ||
  (before === ")" && after === "(");

marked.use({
  tokenizer: {
    // `prevChar` is the character before this position in the paragraph; returning false keeps
    // marked's own emphasis rules for every other run.
    emStrong(src: string, _masked: string, prevChar = "") {
      if (src[0] !== "*") return false;
      let end = 1;
      while (src[end] === "*") end++;
      if (!isArithmeticStar(prevChar, src.charAt(end))) return false;
      const run = src.slice(0, end);
      return { type: "text", raw: run, text: run, escaped: false } as unknown as Tokens.Em;
    },
  },
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const PURIFY = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "object", "embed"],
  FORBID_ATTR: ["style", "srcset"],
};

const cache = new Map<string, string>();
const CACHE_LIMIT = 2000;

/** Sanitized HTML for a markdown text. Exported for tests and the chat draft. */
export function renderMarkdown(text: string): string {
  const cached = cache.get(text);
  if (cached !== undefined) return cached;
  let html: string;
  try {
    html = DOMPurify.sanitize(marked.parse(text) as string, PURIFY);
  } catch {
    html = DOMPurify.sanitize(
      text.replace(/[<>&]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" })[c]!),
      PURIFY,
    );
  }
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(text, html);
  return html;
}

export const Markdown = memo(function Markdown({ text, className = "" }: { text: string; className?: string }) {
  // biome-ignore lint/security/noDangerouslySetInnerHtml: sanitized by DOMPurify just above
  return <div className={`markdown ${className}`} dangerouslySetInnerHTML={{ __html: renderMarkdown(text) }} />;
});
