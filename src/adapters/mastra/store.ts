/**
 * `FrontdeskStore`: a Mastra storage whose memory domain is Frontdesk, for `new Memory({ storage })`
 * or `new Mastra({ storage })`. Mastra's other domains (workflows, scores, …) are not provided;
 * compose them from another store with `MastraCompositeStore` and `FrontdeskMemoryStorage`.
 */
import { MastraCompositeStore } from "@mastra/core/storage";
import type { AdapterOptions } from "../shared/backend.ts";
import { FrontdeskMemoryStorage } from "./memory-storage.ts";

export interface FrontdeskStoreOptions extends AdapterOptions {
  /** The storage's id in Mastra. @default "frontdesk" */
  id?: string;
}

/**
 * @example
 * const memory = new Memory({ storage: new FrontdeskStore({ store: "sqlite:./sessions.db" }) });
 * const agent = new Agent({ id: "support", name: "support", instructions: "…", model, memory });
 * await agent.generate("Hi", { memory: { thread: "t1", resource: "alice" } });
 */
export class FrontdeskStore extends MastraCompositeStore {
  /** The memory domain, also reachable as `await storage.getStore("memory")`. */
  readonly memory: FrontdeskMemoryStorage;

  constructor(options: FrontdeskStoreOptions = {}) {
    const { id = "frontdesk", ...adapterOptions } = options;
    super({ id, name: "FrontdeskStore" });
    this.memory = new FrontdeskMemoryStorage(adapterOptions);
    this.stores = { memory: this.memory };
  }

  /** Closes the Frontdesk store when this storage opened it from a URL (Mastra calls it on shutdown). */
  override async close(): Promise<void> {
    await this.memory.close();
  }
}
