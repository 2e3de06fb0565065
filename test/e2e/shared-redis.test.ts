import { REDIS } from "../support/backends.ts";
import { describeSharedBackend } from "./shared-backend-suite.ts";

// Two real `frontdesk serve` processes on Redis (shared-backend-suite.ts says what is proven).
describeSharedBackend(REDIS);
