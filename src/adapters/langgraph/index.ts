/** Frontdesk under langgraph: the entry point `frontdesk/adapters/langgraph`. */
export type { AdapterOptions } from "../shared/backend.ts";
