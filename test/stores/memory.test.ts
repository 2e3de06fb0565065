import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from "vitest";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { describeStoreConformance } from "../../src/testing/index.ts";

describeStoreConformance(
  { name: "memory", create: async () => createMemoryStore() },
  { describe, it, beforeEach, afterEach, beforeAll, afterAll },
);
