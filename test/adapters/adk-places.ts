/**
 * The stores the ADK adapter's tests run on: memory, SQLite in a temp dir, and the shared Redis
 * and PostgreSQL servers (test/support/backends.ts; skipped when unset, which vitest.config.ts
 * turns into a failure under CI). A place hands out the options of as many services as a test
 * wants on one backend: two services on a place are two writers on one store, as two processes.
 */
import { type FrontdeskSessionService, FrontdeskSessionService as Service } from "../../src/adapters/adk/index.ts";
import { createMemoryStore, createSessionManager, type SessionManager, type SessionStore } from "../../src/index.ts";
import { allStoreLocations } from "../support/store-locations.ts";

export interface Place {
  /** A new service on this place's backend (its own store connection, except on memory). */
  service(): FrontdeskSessionService;
  /** A plain Frontdesk manager on the same store, to look at what the services wrote. */
  manager(): Promise<SessionManager>;
  /** Closes every service handed out and removes what they stored. */
  close(): Promise<void>;
}

export interface PlaceKind {
  name: string;
  /** False when the backend's URL is unset (the suite then skips; CI refuses to start). */
  available: boolean;
  open(): Place;
}

function place(storeOf: () => string | SessionStore, cleanup: () => Promise<void>): Place {
  const services: FrontdeskSessionService[] = [];
  const managers: SessionManager[] = [];
  return {
    async manager() {
      const manager = await createSessionManager({ store: storeOf(), defaultTtlMs: null });
      managers.push(manager);
      return manager;
    },
    service() {
      // No TTL: these tests are about history and state, not expiry.
      const service = new Service({ store: storeOf(), manager: { defaultTtlMs: null } });
      services.push(service);
      return service;
    },
    async close() {
      await Promise.all(services.map((service) => service.close()));
      const stores = storeOf();
      for (const manager of managers) if (manager.store !== stores) await manager.store.close();
      await cleanup();
    },
  };
}

export const PLACES: PlaceKind[] = [
  {
    name: "memory",
    available: true,
    open() {
      const store = createMemoryStore();
      return place(
        () => store,
        async () => store.close(),
      );
    },
  },
  // Two services on one location share its URL: each opens its own connection, as two processes do.
  ...allStoreLocations("sqlite", "redis", "postgres").map((location) => ({
    name: location.name,
    available: location.available,
    open(): Place {
      const { url, cleanup } = location.open();
      return place(() => url, cleanup);
    },
  })),
];
