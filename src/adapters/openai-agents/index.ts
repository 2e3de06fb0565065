/** Frontdesk under openai-agents: the entry point `frontdesk/adapters/openai-agents`. */
export type { AdapterOptions } from "../shared/backend.ts";
