import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from "vitest";
import { createRedisStore, type RedisStoreLogger } from "../../src/stores/redis/index.ts";
import { describeStoreConformance } from "../../src/testing/index.ts";

const url = process.env.FRONTDESK_TEST_REDIS_URL;
// The startup check warns about the test server's appendonly once per store; the suite opens hundreds.
const logger: RedisStoreLogger = { warn: () => undefined };

describe.skipIf(!url)("redis store", () => {
  describeStoreConformance(
    {
      name: "redis",
      create: async ({ clock, prefix }) =>
        createRedisStore({ url: url as string, keyPrefix: prefix, logger }, { clock }),
      createPeer: async (_store, { clock, prefix }) =>
        createRedisStore({ url: url as string, keyPrefix: prefix, logger }, { clock }),
    },
    { describe, it, beforeEach, afterEach, beforeAll, afterAll },
  );
});
