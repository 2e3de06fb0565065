import { POSTGRES } from "../support/backends.ts";
import { describeSharedBackend } from "./shared-backend-suite.ts";

// Two real `frontdesk serve` processes on PostgreSQL (shared-backend-suite.ts says what is proven).
// The contended counter runs 50 × 20, as on the cluster: the backed-off retries of fifty clients on
// one counter make its time grow with the count (50 × 100 took over two minutes of a CI run, 50 × 40
// 67-85 s on each backend), while what it proves (no lost update, no 5xx, conflicts seen) holds at
// any count that has contention.
describeSharedBackend(POSTGRES, { incrementsPerClient: 20 });
