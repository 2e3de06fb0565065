/**
 * The stores the Mastra adapter's tests run on (test/support/store-locations.ts): memory, SQLite,
 * and the shared Redis and PostgreSQL test servers when their URLs are set (under CI,
 * vitest.config.ts refuses to start without them).
 */
import { type StoreLocation, storeLocations } from "../support/store-locations.ts";

export type TestStore = StoreLocation;

export const testStores = (): TestStore[] => storeLocations("memory", "sqlite", "redis", "postgres");
