/**
 * The stores the Mastra adapter's tests run on: memory, SQLite in a temp dir, and the shared stores,
 * Redis under a key prefix and PostgreSQL under a schema of their own. Under CI a missing URL fails
 * the run instead of skipping.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { POSTGRES, REDIS, type SharedBackend, uniquePrefix } from "../support/backends.ts";

export interface TestStore {
  name: string;
  /** A fresh store URL and the clean-up of everything written there. */
  open(): { url: string; cleanup: () => Promise<void> };
}

function sharedUrl(backend: SharedBackend): string | undefined {
  if (backend.url) return backend.url;
  if (process.env.CI === "true")
    throw new Error(`${backend.variable} is not set: CI must test against the real backend`);
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
  for (const backend of [REDIS, POSTGRES]) {
    const url = sharedUrl(backend);
    if (!url) {
      console.warn(`mastra adapter: ${backend.variable} is not set, the ${backend.name} cases are skipped`);
      continue;
    }
    stores.push({
      name: backend.name,
      open: () => {
        const prefix = uniquePrefix("mastra");
        return { url: backend.scoped(url, prefix), cleanup: () => backend.cleanup(url, prefix) };
      },
    });
  }
  return stores;
}
