import { REDIS } from "../support/backends.ts";
import { describeSharedBackend } from "./shared-backend-suite.ts";

// Two real `frontdesk serve` processes on Redis (shared-backend-suite.ts says what is proven). The
// contended counter runs 50 × 20, for the reason shared-postgres.test.ts gives.
describeSharedBackend(REDIS, { incrementsPerClient: 20 });
