import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from "vitest";
import { createRedisStore, type RedisStoreLogger, type RedisStoreOptions } from "../../src/stores/redis/index.ts";
import { describeStoreConformance } from "../../src/testing/index.ts";
import { REDIS_CLUSTER_SEEDS } from "../support/redis-cluster.ts";

const url = process.env.FRONTDESK_TEST_REDIS_URL;
// The startup check warns about the test server's appendonly once per store; the suite opens hundreds.
const logger: RedisStoreLogger = { warn: () => undefined };

const conformance = (name: string, connection: RedisStoreOptions) =>
  describeStoreConformance(
    {
      name,
      create: async ({ clock, prefix }) => createRedisStore({ ...connection, keyPrefix: prefix, logger }, { clock }),
      createPeer: async (_store, { clock, prefix }) =>
        createRedisStore({ ...connection, keyPrefix: prefix, logger }, { clock }),
    },
    { describe, it, beforeEach, afterEach, beforeAll, afterAll },
  );

describe.skipIf(!url)("redis store", () => {
  conformance("redis", { url: url as string });
});

// Several buckets on one Redis: listing, counting and sweeping merge the buckets' indexes, as on a Cluster.
describe.skipIf(!url)("redis store in 7 buckets", () => {
  conformance("redis (7 buckets)", { url: url as string, buckets: 7 });
});

// On a Cluster the `app:` and owner-less `user:` scopes live outside the buckets: the suite's
// all-or-nothing cases run through the two-phase commit (leases.ts).
describe.skipIf(!REDIS_CLUSTER_SEEDS && !process.env.CI)("redis cluster store", () => {
  conformance("redis cluster", { cluster: { nodes: REDIS_CLUSTER_SEEDS ?? [] } });
});

// Every write then goes with its WAIT in one pipeline to the write's master (replicas.ts), leases included.
describe.skipIf(!REDIS_CLUSTER_SEEDS && !process.env.CI)("redis cluster store waiting for a replica", () => {
  conformance("redis cluster (waitReplicas 1)", {
    cluster: { nodes: REDIS_CLUSTER_SEEDS ?? [] },
    waitReplicas: 1,
    waitTimeoutMs: 2_000,
  });
});
