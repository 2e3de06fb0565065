/**
 * The plain records that store-level cases write straight to `commit`: a session header with every
 * field at its neutral default, and a custom event. One builder so that a field added to the model
 * is added once for the conformance suite and the store-specific tests alike (they import it from
 * here; it is not part of the package's exports).
 */
import { emptyStats, type Json, type SessionEvent, type SessionHeader, type SessionKey } from "../../core/model.ts";

/** An active, untitled, never-expiring session at version 1 with no events, stamped `at`; `fields` override. */
export const sessionHeader = (key: SessionKey, at: number, fields: Partial<SessionHeader> = {}): SessionHeader => ({
  ...key,
  status: "active",
  title: null,
  purpose: null,
  tags: [],
  metadata: {},
  state: {},
  version: 1,
  lastSeq: 0,
  stats: emptyStats(),
  createdAt: at,
  updatedAt: at,
  lastAccessedAt: at,
  ttlMs: null,
  expiresAt: null,
  absoluteExpiresAt: null,
  parent: null,
  ...fields,
});

/** The custom event `seq` (id `e<seq>`, name `n`), carrying `data` (its seq unless given). */
export const customEvent = (seq: number, at: number, data: Json = seq): SessionEvent => ({
  seq,
  id: `e${seq}`,
  at,
  type: "custom",
  name: "n",
  data,
});
