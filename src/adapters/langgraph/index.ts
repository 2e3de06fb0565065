/**
 * Frontdesk under LangGraph JS: `FrontdeskSaver`, a `BaseCheckpointSaver` that keeps each thread
 * in a Frontdesk session, on any store. The entry point `frontdesk/adapters/langgraph`.
 *
 * @example
 * const checkpointer = new FrontdeskSaver({ store: "sqlite:./sessions.db" });
 * const graph = workflow.compile({ checkpointer });
 * await graph.invoke(input, { configurable: { thread_id: "t1", user_id: "alice" } });
 */
export type { AdapterOptions } from "../shared/backend.ts";
export { FrontdeskSaver, type FrontdeskSaverOptions } from "./saver.ts";
