/** What a LangGraph call names: its thread, namespace, checkpoint and owner, checked. */
import type { RunnableConfig } from "@langchain/core/runnables";
import { FrontdeskError } from "../../index.ts";

/** The thread a call names, and whose it is. */
export interface Target {
  threadId: string;
  ns: string;
  checkpointId: string | undefined;
  /** `configurable.user_id` (or `userId`) when the call names one. */
  userId: string | null | undefined;
}

/** The key of a thread's queue of calls in this process. */
export const lockKey = (target: Target): string =>
  `${target.userId === undefined ? "\u0001" : (target.userId ?? "")}\u0000${target.threadId}`;

export function targetOf(config: RunnableConfig, what: string, requireThread = true): Target | undefined {
  const configurable = (config.configurable ?? {}) as Record<string, unknown>;
  const thread = configurable.thread_id;
  if (thread === undefined || thread === null || thread === "") {
    if (!requireThread) return undefined;
    throw new FrontdeskError("invalid_request", `${what} needs configurable.thread_id`);
  }
  if (typeof thread !== "string" && typeof thread !== "number") {
    throw new FrontdeskError("invalid_request", `${what}: configurable.thread_id must be a string`);
  }
  const ns = configurable.checkpoint_ns ?? "";
  if (typeof ns !== "string") throw new FrontdeskError("invalid_request", `${what}: checkpoint_ns must be a string`);
  const id = configurable.checkpoint_id;
  if (id !== undefined && id !== null && typeof id !== "string") {
    throw new FrontdeskError("invalid_request", `${what}: checkpoint_id must be a string`);
  }
  return { threadId: String(thread), ns, checkpointId: id ?? undefined, userId: userOf(configurable, what) };
}

export function userOf(configurable: Record<string, unknown>, what: string): string | null | undefined {
  const user = configurable.user_id !== undefined ? configurable.user_id : configurable.userId;
  if (user === undefined || user === null || typeof user === "string") return user;
  throw new FrontdeskError("invalid_request", `${what}: configurable.user_id must be a string`);
}
