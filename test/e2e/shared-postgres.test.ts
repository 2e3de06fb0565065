import { POSTGRES } from "../support/backends.ts";
import { describeSharedBackend } from "./shared-backend-suite.ts";

// Two real `frontdesk serve` processes on PostgreSQL (shared-backend-suite.ts says what is proven).
describeSharedBackend(POSTGRES);
