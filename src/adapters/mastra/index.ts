/** Frontdesk under mastra: the entry point `frontdesk/adapters/mastra`. */
export type { AdapterOptions } from "../shared/backend.ts";
