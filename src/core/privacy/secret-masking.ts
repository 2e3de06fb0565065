/**
 * Secret masking on write (issue 19 §4): before an event is stored, known secret formats in its
 * strings are replaced by a placeholder that names the kind, `[masked:openai_key]`, and the event
 * records where each placeholder sits. Neither the placeholder nor the record holds any character
 * of the secret, not even its prefix, so a masked event can be logged, exported and shown as is.
 *
 * Every detector is one left-to-right pass and runs in time linear in the text, whatever the text
 * (the stall test feeds the write path hostile input). Each finds its anchors with `indexOf` or a
 * regular expression of fixed, bounded width (no nested or adjacent unbounded quantifiers), then
 * scans forward over a bounded window or over a maximal run of one character class, and resumes
 * its search after that run, so no character is scanned twice by the same detector. The PEM
 * detector looks for the next END marker once and remembers it, so a text of many BEGIN lines
 * without an END costs one search, not one per BEGIN.
 *
 * What each detector catches and misses is written beside it. Detection is by format: a secret in
 * a format not listed (a plain password in prose, a Basic auth header, a key split over two strings)
 * is stored as given.
 */
import { FrontdeskError } from "../errors.ts";
import { MAX_JSON_DEPTH } from "../json.ts";

/** What was masked. Ordered from the most specific format to the least: see {@link maskSecretsInText}. */
export const SECRET_KINDS = [
  "private_key",
  "anthropic_key",
  "openai_key",
  "github_token",
  "aws_access_key",
  "aws_secret_access_key",
  "connection_string_password",
  "bearer_token",
] as const;
export type SecretKind = (typeof SECRET_KINDS)[number];

/** Where one placeholder sits in a masked string: `text.slice(start, end)` is the placeholder. */
export interface TextSpan {
  kind: SecretKind;
  start: number;
  end: number;
}

/**
 * One masked span of an event: `path` is the RFC 6901 JSON Pointer of the string within the event
 * (`/content`, `/content/0/text`, `/input/headers/authorization`, `/output`). A pointer rather than
 * a dotted path because tool inputs have keys with dots and slashes in them, and a pointer names
 * every string unambiguously (`~` is written `~0`, `/` is written `~1`).
 */
export interface MaskedSpan extends TextSpan {
  path: string;
}

export interface MaskedText {
  text: string;
  spans: TextSpan[];
}

export interface MaskedEvent<T> {
  event: T;
  masked: MaskedSpan[];
}

/** The fixed text that stands in for a secret of `kind`. */
export const maskPlaceholder = (kind: SecretKind): string => `[masked:${kind}]`;

const PLACEHOLDER_BY_RANK = SECRET_KINDS.map(maskPlaceholder);
const PLACEHOLDER_OPENING = "[masked";
const PLACEHOLDERS = new Set<string>(PLACEHOLDER_BY_RANK);

/**
 * Top-level event fields that are never masked: they identify and route the event (type, role,
 * tool name, ids, enums, numbers) rather than carry what someone said or a tool returned, and
 * stores index or compute on some of them. `stateDelta` is not among them: a secret written into
 * state is masked like one written into a message.
 */
export const STRUCTURAL_EVENT_FIELDS: ReadonlySet<string> = new Set([
  "type",
  "role",
  "name",
  "tool",
  "invocationId",
  "approvalId",
  "toolCallId",
  "model",
  "finish",
  "status",
  "scope",
  "previous",
  "decision",
  "usage",
  "durationMs",
  "throughSeq",
  "seq",
  "id",
  "at",
]);

/**
 * What one detector found, in order of start, as flat `start, end, rank` triples (rank: the kind's
 * index in {@link SECRET_KINDS}), so that a text full of secrets costs no object per find.
 */
type Hits = number[];

const RANK = new Map<SecretKind, number>(SECRET_KINDS.map((kind, index) => [kind, index]));
const hit = (hits: Hits, start: number, end: number, kind: SecretKind): void => {
  hits.push(start, end, RANK.get(kind) as number);
};

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isAlnum = (c: number): boolean => isDigit(c) || isUpper(c) || isLower(c);
/** The characters of API keys and tokens: letters, digits, `-` and `_`. */
const isTokenChar = (c: number): boolean => isAlnum(c) || c === 45 || c === 95;
/** A test for the character codes of `chars`. */
const oneOf = (chars: string): ((c: number) => boolean) => {
  const codes = new Set([...chars].map((char) => char.charCodeAt(0)));
  return (c) => codes.has(c);
};
const isSpace = oneOf(" \t\r\n");
/** Base64 (standard alphabet, with padding). */
const isBase64Char = (c: number): boolean => isAlnum(c) || c === 43 || c === 47 || c === 61;

/** The end of the maximal run of `accepts` characters that starts at `from`. */
const runEnd = (text: string, from: number, accepts: (c: number) => boolean): number => {
  let i = from;
  while (i < text.length && accepts(text.charCodeAt(i))) i++;
  return i;
};

/** Whether the character before `at` (if any) would make `at` the middle of a word or token. */
const continuesToken = (text: string, at: number): boolean => at > 0 && isTokenChar(text.charCodeAt(at - 1));

/** "T3BlbkFJ", base64 of "OpenAI", sits in the middle of the keys OpenAI issues. */
const OPENAI_MARKER = "T3BlbkFJ";
const hasOpenAiMarker = (text: string, start: number, end: number): boolean =>
  text.slice(start, end).includes(OPENAI_MARKER);

/**
 * OpenAI and Anthropic keys: a token that starts with `sk-` at a token boundary.
 * - Anthropic: `sk-ant-` then at least 32 token characters (`sk-ant-api03-…`, `sk-ant-admin01-…`, `sk-ant-oat01-…`).
 * - OpenAI: `sk-` then at least 32 token characters, holding OpenAI's `T3BlbkFJ` marker, or else a
 *   run of 16 letters and digits (no `-` or `_`) and a digit or capital letter somewhere: legacy `sk-`
 *   + 48, `sk-proj-…`, `sk-svcacct-…`, `sk-admin-…`, and compatible providers' keys (`sk-or-v1-` + 64 hex).
 *
 * Misses: keys shorter than that (test and proxy keys of a few characters); `sk-` keys without the
 * marker that have no run of 16 letters and digits, or no digit or capital (they cannot be told from
 * a kebab-case name); a key glued to a preceding letter, digit, `-` or `_` (`mysk-…`, `key_sk-…`),
 * which is also how "task-list" stays prose.
 */
function findApiKeys(text: string, out: Hits): void {
  let from = 0;
  for (;;) {
    const at = text.indexOf("sk-", from);
    if (at === -1) return;
    // Inside a longer token: so is every later anchor of the same token, each rejected here in O(1).
    if (continuesToken(text, at)) {
      from = at + 3;
      continue;
    }
    let i = at + 3;
    let segment = 0;
    let longestSegment = 0;
    let digitOrCapital = false;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (!isTokenChar(c)) break;
      if (isAlnum(c)) {
        segment++;
        if (segment > longestSegment) longestSegment = segment;
        if (isDigit(c) || isUpper(c)) digitOrCapital = true;
      } else {
        segment = 0;
      }
    }
    from = i;
    const bodyLength = i - (at + 3);
    if (text.startsWith("ant-", at + 3)) {
      if (bodyLength - 4 >= 32) hit(out, at, i, "anthropic_key");
    } else if (bodyLength >= 32 && ((longestSegment >= 16 && digitOrCapital) || hasOpenAiMarker(text, at, i))) {
      hit(out, at, i, "openai_key");
    }
  }
}

/**
 * GitHub tokens: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` + at least 30 letters and digits (36 today),
 * and fine-grained `github_pat_` + at least 40 letters, digits and `_` (82 today), at a token boundary.
 *
 * Misses: the pre-2021 40-hex tokens (no prefix: they look like any SHA-1), and a token glued to a
 * preceding letter, digit, `-` or `_`.
 */
const GITHUB_PREFIX = /(?<![A-Za-z0-9_-])(?:gh[pousr]_|github_pat_)/g;
const isFineGrainedChar = (c: number): boolean => isAlnum(c) || c === 95;

function findGithubTokens(text: string, out: Hits): void {
  const prefix = new RegExp(GITHUB_PREFIX);
  for (let match = prefix.exec(text); match !== null; match = prefix.exec(text)) {
    const bodyStart = match.index + match[0].length;
    const fineGrained = match[0].length > 4;
    const end = runEnd(text, bodyStart, fineGrained ? isFineGrainedChar : isAlnum);
    prefix.lastIndex = end;
    if (end - bodyStart >= (fineGrained ? 40 : 30)) hit(out, match.index, end, "github_token");
  }
}

/**
 * AWS access key ids: `AKIA` (long-term) or `ASIA` (temporary) + exactly 16 capitals and digits,
 * not glued to another letter or digit. Fixed width, so the expression does bounded work per position.
 *
 * Misses: other AWS identifiers (`AIDA…` user ids, `AROA…` role ids), which are not credentials.
 */
const AWS_ACCESS_KEY = /(?<![A-Za-z0-9])A(?:KIA|SIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;

function findAwsAccessKeys(text: string, out: Hits): void {
  for (const match of text.matchAll(AWS_ACCESS_KEY)) {
    hit(out, match.index, match.index + match[0].length, "aws_access_key");
  }
}

/**
 * AWS secret access keys, only where labelled: `aws_secret_access_key = …` (credentials files, env),
 * `"SecretAccessKey": "…"` (STS and CLI JSON), `secretAccessKey: '…'` (SDK config), any case, then up
 * to 8 characters of quotes, spaces, `:` or `=`, then exactly 40 base64 characters. An unlabelled
 * 40-character base64 string is not masked: it looks like any hash or id.
 *
 * Misses: a secret key without such a label next to it (a bare value, or a label two lines above).
 */
const AWS_SECRET_LABEL = /secret_?access_?key/gi;
const AWS_SECRET_LENGTH = 40;

function findAwsSecretKeys(text: string, out: Hits): void {
  for (const label of text.matchAll(AWS_SECRET_LABEL)) {
    let i = label.index + label[0].length;
    const separatorsEnd = Math.min(text.length, i + 8);
    let assigned = false;
    for (; i < separatorsEnd; i++) {
      const c = text.charCodeAt(i);
      if (c === 58 || c === 61) assigned = true;
      else if (!(c === 32 || c === 9 || c === 34 || c === 39)) break;
    }
    if (!assigned) continue;
    // Bounded: at most 41 characters are read per label.
    let end = i;
    while (end < text.length && end - i <= AWS_SECRET_LENGTH && isBase64Char(text.charCodeAt(end))) end++;
    if (end - i === AWS_SECRET_LENGTH && text.charCodeAt(end - 1) !== 61) {
      hit(out, i, end, "aws_secret_access_key");
    }
  }
}

/**
 * Bearer tokens: the word `Bearer` (any case, not glued to a preceding letter or digit), 1 to 8
 * spaces or tabs, then a token of RFC 6750 characters (letters, digits, `-._~+/`, trailing `=`) of at
 * least 16 characters mixing at least two of capitals, small letters and digits. Only the token is
 * masked: `Authorization: Bearer [masked:bearer_token]`. JWTs, opaque tokens and API keys sent as
 * bearer tokens are caught; a key of a more specific kind is reported as that kind.
 *
 * Misses: tokens under 16 characters or of a single character class (`Bearer YOUR_TOKEN_HERE`,
 * `Bearer 1234567890123456`), and other schemes (`Basic`, `Token`, `Digest`).
 */
const BEARER = /(?<![A-Za-z0-9_])bearer[ \t]{1,8}/gi;
const isBearerPunctuation = oneOf("-._~+/");
const isBearerChar = (c: number): boolean => isAlnum(c) || isBearerPunctuation(c);

function findBearerTokens(text: string, out: Hits): void {
  const bearer = new RegExp(BEARER);
  for (let match = bearer.exec(text); match !== null; match = bearer.exec(text)) {
    const start = match.index + match[0].length;
    let end = start;
    let classes = 0;
    for (; end < text.length; end++) {
      const c = text.charCodeAt(end);
      if (!isBearerChar(c)) break;
      classes |= isUpper(c) ? 1 : isLower(c) ? 2 : isDigit(c) ? 4 : 0;
    }
    const tokenLength = end - start;
    end = runEnd(text, end, (c) => c === 61);
    bearer.lastIndex = Math.max(bearer.lastIndex, end);
    const mixed = classes === 3 || classes === 5 || classes === 6 || classes === 7;
    if (tokenLength >= 16 && mixed) hit(out, start, end, "bearer_token");
  }
}

/**
 * PEM private keys: from `-----BEGIN <label>-----` where the label ends with `PRIVATE KEY` (RSA, EC,
 * DSA, OPENSSH, ENCRYPTED, PKCS#8) or is `PGP PRIVATE KEY BLOCK`, through the first `-----END …-----`
 * line before the next BEGIN: the whole block, headers included, is one placeholder. A block cut off
 * before its END line (a truncated paste or log) is masked through its base64 body, provided the
 * body's first line holds at least 40 base64 characters.
 *
 * Misses: a cut-off block whose body starts with headers (`Proc-Type:`) or whose newlines are
 * written as `\n` escapes; non-PEM key files (PuTTY `.ppk`, JWK JSON). Certificates and public keys
 * are not masked.
 */
const PEM_BEGIN = "-----BEGIN ";
const PEM_END = "-----END ";
const PEM_DASHES = "-----";
const PEM_LABEL_MAX = 64;
const isPemLabelChar = (c: number): boolean => isUpper(c) || isDigit(c) || c === 32;

/** The end of a PEM label starting at `from` when `-----` closes it within bounds, else -1. */
function pemLabelEnd(text: string, from: number): number {
  let i = from;
  while (i < text.length && i - from < PEM_LABEL_MAX && isPemLabelChar(text.charCodeAt(i))) i++;
  return text.startsWith(PEM_DASHES, i) ? i : -1;
}

function findPrivateKeys(text: string, out: Hits): void {
  // The next END marker at or after the last header, searched for only when passed: -2 not yet
  // searched, -1 none in the rest of the text (and so none is ever searched for again).
  let end = -2;
  let begin = text.indexOf(PEM_BEGIN);
  while (begin !== -1) {
    const labelStart = begin + PEM_BEGIN.length;
    const labelEnd = pemLabelEnd(text, labelStart);
    const label = labelEnd === -1 ? "" : text.slice(labelStart, labelEnd);
    if (!(label.endsWith("PRIVATE KEY") || label.endsWith("PRIVATE KEY BLOCK"))) {
      begin = text.indexOf(PEM_BEGIN, labelStart);
      continue;
    }
    const headerEnd = labelEnd + PEM_DASHES.length;
    const nextBegin = text.indexOf(PEM_BEGIN, headerEnd);
    if (end !== -1 && end < headerEnd) end = text.indexOf(PEM_END, headerEnd);
    let blockEnd: number;
    if (end !== -1 && (nextBegin === -1 || end < nextBegin)) {
      const endLabelStart = end + PEM_END.length;
      const endLabelEnd = pemLabelEnd(text, endLabelStart);
      blockEnd = endLabelEnd === -1 ? endLabelStart : endLabelEnd + PEM_DASHES.length;
      hit(out, begin, blockEnd, "private_key");
    } else {
      const firstLineStart = runEnd(text, headerEnd, isSpace);
      const firstLineEnd = runEnd(text, firstLineStart, isBase64Char);
      blockEnd = headerEnd;
      if (firstLineEnd - firstLineStart >= 40) {
        blockEnd = runEnd(text, firstLineEnd, (c) => isBase64Char(c) || isSpace(c));
        while (isSpace(text.charCodeAt(blockEnd - 1))) blockEnd--;
        hit(out, begin, blockEnd, "private_key");
      }
    }
    // The END line's closing dashes may be the next BEGIN's opening ones.
    begin = nextBegin === -1 || nextBegin >= blockEnd ? nextBegin : text.indexOf(PEM_BEGIN, blockEnd);
  }
}

/**
 * Passwords in connection strings. Only the password is masked; the scheme, user, host and the rest
 * stay, since they are what someone reading the session needs to tell which database was meant:
 * `postgres://app:[masked:connection_string_password]@db:5432/prod`.
 * - URLs of any scheme with a password in their userinfo: `scheme://user:password@host`,
 *   `redis://:password@host`, `mongodb+srv://…`, `amqp://…`, `jdbc:mysql://…`, and `https://user:token@…`
 *   (git remotes with a token). The userinfo ends at the authority's last `@`, so an unescaped `@`
 *   inside the password is masked with it.
 * - `password=`, `passwd=` or `pwd=` (any case) right after `?`, `&` or `;`: query parameters
 *   (`?user=app&password=…`) and key-value strings (`Server=db;User Id=app;Password=…;`). The value
 *   runs to the next `;`, `&`, `#`, whitespace or quote, or between quotes when quoted.
 *
 * Misses: a URL without a scheme (`user:password@host`), a password written elsewhere in prose or
 * code (`password = "…"`, `PGPASSWORD=…`), and a password with whitespace, `/`, `?` or `#` unescaped
 * in a URL (the authority ends there, so only the part before is seen, and no `@` may follow).
 */
const isSchemeChar = (c: number): boolean => isAlnum(c) || c === 43 || c === 45 || c === 46;
const isAuthorityEnd = oneOf(" \t\r\n/?#\"'`<>\\");
const SCHEME_MAX = 32;

function findUrlPasswords(text: string, out: Hits): void {
  let from = 0;
  for (;;) {
    const separator = text.indexOf("://", from);
    if (separator === -1) return;
    const authorityStart = separator + 3;
    // The authority stops at a `/`, so it ends before the next "://" (or at its `/`): the scans of
    // successive anchors never overlap.
    from = authorityStart;
    let schemeStart = separator;
    while (schemeStart > 0 && separator - schemeStart <= SCHEME_MAX && isSchemeChar(text.charCodeAt(schemeStart - 1))) {
      schemeStart--;
    }
    const schemeLength = separator - schemeStart;
    const schemeBounded = schemeStart === 0 || !isSchemeChar(text.charCodeAt(schemeStart - 1));
    if (schemeLength === 0 || schemeLength > SCHEME_MAX || !schemeBounded) continue;
    if (!(isUpper(text.charCodeAt(schemeStart)) || isLower(text.charCodeAt(schemeStart)))) continue;
    let firstColon = -1;
    let lastAt = -1;
    for (let i = authorityStart; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (isAuthorityEnd(c)) break;
      if (c === 64) lastAt = i;
      // The colon of a placeholder (an already masked user or token) does not start a password.
      else if (c === 58 && firstColon === -1 && !text.startsWith(PLACEHOLDER_OPENING, i - PLACEHOLDER_OPENING.length)) {
        firstColon = i;
      }
    }
    if (lastAt === -1 || firstColon === -1 || firstColon > lastAt) continue;
    pushPassword(text, firstColon + 1, lastAt, out);
  }
}

const PASSWORD_PARAMETER = /[?&;][ \t]{0,4}(?:password|passwd|pwd)[ \t]{0,4}=[ \t]{0,4}/gi;
/** Longest quoted value looked for: bounds the work per parameter when the closing quote is missing. */
const QUOTED_VALUE_MAX = 256;
const isValueEnd = oneOf(" \t\r\n;&#\"'`");

function findPasswordParameters(text: string, out: Hits): void {
  const parameter = new RegExp(PASSWORD_PARAMETER);
  for (let match = parameter.exec(text); match !== null; match = parameter.exec(text)) {
    let start = match.index + match[0].length;
    const quote = text.charCodeAt(start);
    let end = -1;
    if (quote === 34 || quote === 39) {
      start++;
      const limit = Math.min(text.length, start + QUOTED_VALUE_MAX);
      let close = start;
      while (close < limit && text.charCodeAt(close) !== quote && text.charCodeAt(close) !== 10) close++;
      if (text.charCodeAt(close) === quote) end = close;
    }
    // Unquoted, or a quote left open: the value runs to the first character that ends a parameter.
    if (end === -1) end = runEnd(text, start, (c) => !isValueEnd(c));
    parameter.lastIndex = Math.max(parameter.lastIndex, end);
    pushPassword(text, start, end, out);
  }
}

/** A password already masked (a masked event written again, say by an import) is left as it is. */
function pushPassword(text: string, start: number, end: number, out: Hits): void {
  if (end > start && !PLACEHOLDERS.has(text.slice(start, end))) {
    hit(out, start, end, "connection_string_password");
  }
}

const DETECTORS: readonly ((text: string, out: Hits) => void)[] = [
  findPrivateKeys,
  findApiKeys,
  findGithubTokens,
  findAwsAccessKeys,
  findAwsSecretKeys,
  findUrlPasswords,
  findPasswordParameters,
  findBearerTokens,
];

/**
 * `text` with every secret the detectors find replaced by its kind's placeholder.
 *
 * Where detections overlap (a key sent as a bearer token, a token used as a URL password, anything
 * inside a PEM block), they become one placeholder: the earliest-starting detection names the kind
 * (the most specific kind, at equal starts), and the masked region grows to cover all of them, so no
 * part of any detection is left in the text.
 */
export function maskSecretsInText(text: string): MaskedText {
  const lists = DETECTORS.map((detect) => {
    const hits: Hits = [];
    detect(text, hits);
    return hits;
  });
  if (lists.every((hits) => hits.length === 0)) return { text, spans: [] };
  const heads = lists.map(() => 0);
  const spans: TextSpan[] = [];
  let masked = "";
  let copied = 0;
  let regionStart = -1;
  let regionEnd = -1;
  let regionRank = -1;
  const closeRegion = (): void => {
    const kind = SECRET_KINDS[regionRank] as SecretKind;
    const placeholder = PLACEHOLDER_BY_RANK[regionRank] as string;
    masked += text.slice(copied, regionStart);
    spans.push({ kind, start: masked.length, end: masked.length + placeholder.length });
    masked += placeholder;
    copied = regionEnd;
  };
  // A merge of the detectors' lists (each already in order of start), earliest start and then
  // most specific kind first.
  for (;;) {
    let next = -1;
    for (let list = 0; list < lists.length; list++) {
      const hits = lists[list] as Hits;
      const head = heads[list] as number;
      if (head >= hits.length) continue;
      if (next === -1) {
        next = list;
        continue;
      }
      const best = lists[next] as Hits;
      const bestHead = heads[next] as number;
      const start = hits[head] as number;
      const bestStart = best[bestHead] as number;
      if (start < bestStart || (start === bestStart && (hits[head + 2] as number) < (best[bestHead + 2] as number))) {
        next = list;
      }
    }
    if (next === -1) break;
    const hits = lists[next] as Hits;
    const head = heads[next] as number;
    heads[next] = head + 3;
    const start = hits[head] as number;
    const end = hits[head + 1] as number;
    const rank = hits[head + 2] as number;
    if (regionRank !== -1 && start < regionEnd) {
      regionEnd = Math.max(regionEnd, end);
      continue;
    }
    if (regionRank !== -1) closeRegion();
    regionStart = start;
    regionEnd = end;
    regionRank = rank;
  }
  closeRegion();
  return { text: masked + text.slice(copied), spans };
}

const pointerSegment = (key: string | number): string =>
  typeof key === "number" ? String(key) : key.replaceAll("~", "~0").replaceAll("/", "~1");

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
};

/** A shallow copy of `record` with `changes` set as own data properties (`__proto__` included). */
const withChanges = <R extends object>(record: R, changes: Map<string, unknown>): R => {
  const copy = { ...record } as Record<string, unknown>;
  for (const [key, value] of changes) {
    Object.defineProperty(copy, key, { value, writable: true, enumerable: true, configurable: true });
  }
  return copy as R;
};

/**
 * Walks one value; `path` holds the pointer segments down to it and is joined only when a span is
 * found, so a deep value costs no more than its size.
 */
function maskValue(value: unknown, path: (string | number)[], masked: MaskedSpan[]): unknown {
  if (typeof value === "string") {
    const result = maskSecretsInText(value);
    if (result.spans.length === 0) return value;
    const pointer = path.map((segment) => `/${pointerSegment(segment)}`).join("");
    for (const span of result.spans) masked.push({ path: pointer, ...span });
    return result.text;
  }
  if (typeof value !== "object" || value === null) return value;
  if (path.length > MAX_JSON_DEPTH) {
    throw new FrontdeskError("invalid_request", `an event nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      const item = maskValue(value[i], path, masked);
      path.pop();
      if (item !== value[i]) {
        copy ??= [...value];
        copy[i] = item;
      }
    }
    return copy ?? value;
  }
  // Class instances (dates, buffers) are not JSON an event could hold; they are left as they are.
  if (!isPlainObject(value)) return value;
  return maskFields(value, path, masked, undefined);
}

function maskFields<R extends object>(
  record: R,
  path: (string | number)[],
  masked: MaskedSpan[],
  skipFields: ReadonlySet<string> | undefined,
): R {
  let changes: Map<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    if (skipFields?.has(key)) continue;
    const before = (record as Record<string, unknown>)[key];
    path.push(key);
    const after = maskValue(before, path, masked);
    path.pop();
    if (after !== before) (changes ??= new Map()).set(key, after);
  }
  return changes === undefined ? record : withChanges(record, changes);
}

/**
 * `event` with the secrets in its string values masked, and where each placeholder now sits. Every
 * string at any depth is scanned, except the top-level fields in `skipFields`; object keys are kept
 * as they are. The input is never changed: the result is a new object that shares the parts with
 * nothing masked, or the input itself when nothing was masked (`masked` is then empty).
 */
export function maskSecretsInEvent<T extends object>(
  event: T,
  skipFields: ReadonlySet<string> = STRUCTURAL_EVENT_FIELDS,
): MaskedEvent<T> {
  const masked: MaskedSpan[] = [];
  return { event: maskFields(event, [], masked, skipFields), masked };
}
