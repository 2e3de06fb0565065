/**
 * The SDK's history transactions (`applyHistoryTransaction`), checked before anything is written:
 * their arguments, a digest that tells a retried transaction from a different one under the same
 * operation id, and the idempotency key that records the operation id in the same commit as the
 * change it made.
 */
import { createHash } from "node:crypto";
import type { AgentInputItem, SessionHistoryTransaction, SessionHistoryTransactionArgs } from "@openai/agents-core";
import { FrontdeskError } from "../../index.ts";
import { canonicalJson, plainItem } from "./items.ts";

const invalid = (message: string): FrontdeskError => new FrontdeskError("invalid_request", message);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function itemsOf(value: unknown, field: string): AgentInputItem[] {
  if (!Array.isArray(value)) throw invalid(`The history transaction's ${field} must be an array of items`);
  value.forEach((item, i) => {
    if (!isRecord(item)) throw invalid(`The history transaction's ${field}[${i}] must be an item object`);
  });
  return value.map((item) => plainItem(item) as AgentInputItem);
}

/** The transaction as plain JSON items, or `invalid_request` naming what is wrong. */
export function checkedTransaction(args: SessionHistoryTransactionArgs): {
  operationId: string;
  transaction: SessionHistoryTransaction;
} {
  if (!isRecord(args)) throw invalid("applyHistoryTransaction needs { operationId, transaction }");
  const { operationId, transaction } = args;
  if (typeof operationId !== "string" || operationId.trim() === "") {
    throw invalid("A history transaction's operationId must be a non-empty string");
  }
  if (!isRecord(transaction)) throw invalid("A history transaction must be an object");
  const fields = Object.keys(transaction).sort().join(",");
  if (transaction.type === "append_items" && fields === "items,type") {
    return { operationId, transaction: { type: "append_items", items: itemsOf(transaction.items, "items") } };
  }
  if (transaction.type === "replace_suffix" && fields === "expectedSuffix,replacement,type") {
    return {
      operationId,
      transaction: {
        type: "replace_suffix",
        expectedSuffix: itemsOf(transaction.expectedSuffix, "expectedSuffix"),
        replacement: itemsOf(transaction.replacement, "replacement"),
      },
    };
  }
  throw invalid(
    "A history transaction is { type: 'append_items', items } or { type: 'replace_suffix', expectedSuffix, replacement }",
  );
}

const sha256 = (text: string): string => createHash("sha256").update(text).digest("base64url");

/** Equal for structurally equal transactions, whatever their keys' order. */
export const transactionDigest = (transaction: SessionHistoryTransaction): string => sha256(canonicalJson(transaction));

/**
 * The idempotency key of one operation id in one epoch: a clear starts a new epoch, so, as with the
 * SDK's memory session, an operation id may be applied again after the history was cleared.
 */
export const operationKey = (epoch: number, operationId: string): string =>
  `openai-agents:${epoch}:${sha256(operationId)}`;
