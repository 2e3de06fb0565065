/**
 * The stores the Mastra adapter's tests run on: memory, SQLite in a temp dir, and Redis (the shared
 * store) under a prefix of its own. Under CI a missing Redis URL fails the run instead of skipping.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REDIS, uniquePrefix } from "../support/backends.ts";

export interface TestStore {
  name: string;
  /** A fresh store URL and the clean-up of everything written there. */
  open(): { url: string; cleanup: () => Promise<void> };
}

function redisUrl(): string | undefined {
  if (REDIS.url) return REDIS.url;
  if (process.env.CI === "true") throw new Error(`${REDIS.variable} is not set: CI must test against the real backend`);
  return undefined;
}

export function testStores(): TestStore[] {
  const stores: TestStore[] = [
    { name: "memory", open: () => ({ url: "memory:", cleanup: async () => {} }) },
    {
      name: "sqlite",
      open: () => {
        const dir = mkdtempSync(join(tmpdir(), "frontdesk-mastra-"));
        return {
          url: `sqlite:${join(dir, "sessions.db")}`,
          cleanup: async () => rmSync(dir, { recursive: true, force: true }),
        };
      },
    },
  ];
  const redis = redisUrl();
  if (redis) {
    stores.push({
      name: "redis",
      open: () => {
        const prefix = uniquePrefix("mastra");
        return { url: REDIS.scoped(redis, prefix), cleanup: () => REDIS.cleanup(redis, prefix) };
      },
    });
  } else {
    console.warn(`mastra adapter: ${REDIS.variable} is not set, the shared-store cases are skipped`);
  }
  return stores;
}
