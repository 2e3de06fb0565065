/** Frontdesk under adk: the entry point `frontdesk/adapters/adk`. */
export type { AdapterOptions } from "../shared/backend.ts";
