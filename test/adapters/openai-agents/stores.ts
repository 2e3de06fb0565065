/**
 * The stores the adapter's tests run on (test/support/store-locations.ts): memory, SQLite, and the
 * shared Redis and PostgreSQL test servers when their URLs are set (under CI, vitest.config.ts
 * refuses to start without them).
 */
import { type StoreLocation, storeLocations } from "../../support/store-locations.ts";

export type TestStore = StoreLocation;

/** Every store: for the behaviour tests. */
export const ALL_STORES = storeLocations("memory", "sqlite", "redis", "postgres");
/** SQLite and one shared store: for the runner and the multi-process tests. */
export const DURABLE_STORES = [...storeLocations("sqlite"), ...storeLocations("redis", "postgres").slice(0, 1)];
