import { REDIS_CLUSTER } from "../support/backends.ts";
import { describeSharedBackend } from "./shared-backend-suite.ts";

// Two real `frontdesk serve` processes on a Redis Cluster (shared-backend-suite.ts says what is
// proven). The contended counter runs 50 × 20 here, not 50 × 100: the cluster's load test
// (test/isolated/redis-cluster-changes.test.ts) drives 50 If-Match clients on it through a reshard
// and two failovers, and the full count would add a minute to every CI run.
describeSharedBackend(REDIS_CLUSTER, { incrementsPerClient: 20 });
