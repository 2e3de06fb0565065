/**
 * Conditional GET (RFC 9110 §13.1.2): `If-None-Match` names the representations a client already
 * has; when the current one is among them the answer is `304 Not Modified` without a body.
 */

/** One entity tag of a list: optional `W/`, then a quoted opaque tag (which may hold commas). */
const ENTITY_TAG = /(?:W\/)?("[\x21\x23-\x7e\x80-\xff]*")/g;

/**
 * True when `If-None-Match` matches `etag` by the weak comparison the RFC asks for here, so `W/"3"`
 * matches `"3"`; `*` matches any current representation. Linear in the header's length.
 */
export function noneMatchHits(header: unknown, etag: string): boolean {
  if (typeof header !== "string") return false;
  // What a client nearly always sends: the one tag it was given, as it was given.
  if (header === etag) return true;
  if (header.trim() === "*") return true;
  for (const match of header.matchAll(ENTITY_TAG)) if (match[1] === etag) return true;
  return false;
}
