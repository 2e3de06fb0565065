/** Frontdesk under ai-sdk: the entry point `frontdesk/adapters/ai-sdk`. */
export type { AdapterOptions } from "../shared/backend.ts";
