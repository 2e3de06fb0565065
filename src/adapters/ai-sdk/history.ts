/**
 * How `saveChat` tells what is new in a full message list without reading the stored history: the
 * session state keeps a fingerprint of the chat (a hash chain over its messages, their count, the
 * last message's id and where it is stored), a few fixed-size fields whatever the chat's length.
 * Checking a list hashes the list the client sent, which is in memory already; the store is read
 * for one header and, when the last message is continued, one event.
 */
import { createHash } from "node:crypto";
import { isToolUIPart } from "ai";
import { FrontdeskError, type JsonObject } from "../../index.ts";
import type { StoredUIMessage } from "./convert.ts";

/** The session state key of the fingerprint. */
export const CHAT_STATE_KEY = "aiSdkChat";

export interface ChatFingerprint extends JsonObject {
  /** Messages in the chat. */
  count: number;
  /** Hash chain over all `count` messages ("" for none). */
  hash: string;
  /** Hash chain over the first `count - 1`. */
  previousHash: string;
  /** The last message's id, and the seq of the event that holds it whole (0 when none does). */
  lastId: string;
  lastHeadSeq: number;
  /** The session's last seq when this was written: a different one means others wrote since. */
  seq: number;
}

export const EMPTY_FINGERPRINT: ChatFingerprint = {
  count: 0,
  hash: "",
  previousHash: "",
  lastId: "",
  lastHeadSeq: 0,
  seq: 0,
};

/** The chain's next link: the previous hash and the message's canonical JSON. */
export function chain(previous: string, message: StoredUIMessage): string {
  return createHash("sha256").update(previous).update("\n").update(canonical(message)).digest("base64url");
}

/** Hashes of `messages[0..n)` for n = count - 1 and count, in one pass. */
export function chainOf(messages: readonly StoredUIMessage[], count: number): { previous: string; hash: string } {
  let previous = "";
  let hash = "";
  for (let i = 0; i < count; i++) {
    previous = hash;
    hash = chain(hash, messages[i] as StoredUIMessage);
  }
  return { previous, hash };
}

/** What a save writes: the messages from `from` on, and `continued` when the last stored one grows. */
export interface SavePlan {
  from: number;
  /** The stored last message, which `messages[from]` continues. */
  continued?: StoredUIMessage;
}

/**
 * Checks `incoming` against the stored chat and says what is new. A list that drops or rewrites a
 * stored message is refused with `conflict` (nothing is written): only the last stored message may
 * change, and only as the AI SDK continues an assistant message (same id, its parts kept, tool
 * calls moving on to their results, parts added at the end).
 */
export async function planSave(
  stored: ChatFingerprint,
  incoming: readonly StoredUIMessage[],
  readLast: () => Promise<StoredUIMessage | undefined>,
  pruned = false,
): Promise<SavePlan> {
  const n = stored.count;
  if (n === 0) return { from: 0 };
  // A pruned chat stores the end of the conversation the client holds: the messages before it,
  // which the prune removed, are skipped, and the stored ones are checked where they sit.
  const skip = pruned ? alignment(stored, incoming) : 0;
  if (skip > 0) {
    const plan = await planSave(stored, incoming.slice(skip), readLast);
    return { ...plan, from: plan.from + skip };
  }
  if (incoming.length < n) {
    throw new FrontdeskError("conflict", `the chat has ${n} stored messages; ${incoming.length} were sent`, {
      details: { reason: "dropped", stored: n, sent: incoming.length },
    });
  }
  const { previous, hash } = chainOf(incoming, n);
  if (hash === stored.hash) return { from: n };
  const last = incoming[n - 1] as StoredUIMessage;
  if (previous === stored.previousHash && last.id === stored.lastId && last.role === "assistant") {
    const current = await readLast();
    if (current && continues(current, last)) return { from: n - 1, continued: current };
  }
  throw new FrontdeskError(
    "conflict",
    previous === stored.previousHash
      ? `message ${n - 1} (${last.id}) differs from the stored one`
      : `the messages before message ${n - 1} differ from the stored history`,
    { details: { reason: "rewritten", stored: n } },
  );
}

/** Where the stored messages start in the client's list: its last stored message's place, less the others. */
function alignment(stored: ChatFingerprint, incoming: readonly StoredUIMessage[]): number {
  for (let at = stored.count - 1; at < incoming.length; at++) {
    if ((incoming[at] as StoredUIMessage).id === stored.lastId) return at - (stored.count - 1);
  }
  return 0;
}

const STATE_RANK: Record<string, number> = {
  "input-streaming": 0,
  "input-available": 1,
  "approval-requested": 2,
  "approval-responded": 3,
  "output-available": 4,
  "output-error": 4,
  "output-denied": 4,
};

/** `next` is `current` continued: each stored part kept, or a tool call moved on; new parts only at the end. */
function continues(current: StoredUIMessage, next: StoredUIMessage): boolean {
  if (next.parts.length < current.parts.length) return false;
  return current.parts.every((part, i) => {
    const later = next.parts[i] as JsonObject;
    if (canonical(part) === canonical(later)) return true;
    if (!isToolUIPart(part as never) || later.type !== part.type || later.toolCallId !== part.toolCallId) return false;
    const from = STATE_RANK[String(part.state)] ?? 9;
    const to = STATE_RANK[String(later.state)] ?? -1;
    if (to < from || from >= 4) return false;
    return part.state === "input-streaming" || canonical(part.input) === canonical(later.input);
  });
}

/** JSON with object keys sorted, so equal messages hash equally however their keys were built. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item) =>
    typeof item === "object" && item !== null && !Array.isArray(item)
      ? Object.fromEntries(
          Object.keys(item)
            .sort()
            .map((key) => [key, (item as JsonObject)[key]]),
        )
      : item,
  );
}
