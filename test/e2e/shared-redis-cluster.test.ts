import { REDIS_CLUSTER } from "../support/backends.ts";
import { describeSharedBackend } from "./shared-backend-suite.ts";

// Two real `frontdesk serve` processes on a Redis Cluster (shared-backend-suite.ts says what is proven).
describeSharedBackend(REDIS_CLUSTER);
