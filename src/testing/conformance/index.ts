import { appendCases } from "./append.ts";
import { commitCases } from "./commit.ts";
import { concurrencyCases } from "./concurrency.ts";
import { useStore } from "./context.ts";
import { copyCases } from "./copy.ts";
import type { Runner, StoreHarness } from "./harness.ts";
import { hostileCases } from "./hostile.ts";
import { isolationCases } from "./isolation.ts";
import { listCases } from "./list.ts";
import { managerCases } from "./manager.ts";
import { privacyCases } from "./privacy.ts";
import { rewriteCases } from "./rewrite.ts";
import { subscribeCases } from "./subscribe.ts";
import { ttlCases } from "./ttl.ts";

export { type CaseContext, codeOf } from "./context.ts";
export type { Runner, StoreHarness } from "./harness.ts";

/**
 * Runs the whole store conformance suite against one backend. The same cases run unchanged
 * against every built-in store; a third-party store passes them to claim the contract.
 *
 * @example
 * import * as vitest from "vitest";
 * describeStoreConformance({ name: "mine", create: ({ clock }) => createMyStore({ clock }) }, vitest);
 */
export function describeStoreConformance(harness: StoreHarness, runner: Runner): void {
  runner.describe(`${harness.name} store conformance`, () => {
    if (harness.setup) runner.beforeAll(() => harness.setup?.());
    if (harness.teardown) runner.afterAll(() => harness.teardown?.());
    const ctx = useStore(harness, runner);
    commitCases(ctx, runner);
    managerCases(ctx, runner);
    appendCases(ctx, runner);
    concurrencyCases(ctx, runner);
    ttlCases(ctx, runner);
    isolationCases(ctx, runner);
    listCases(ctx, runner);
    copyCases(ctx, runner);
    subscribeCases(ctx, runner);
    hostileCases(ctx, runner);
    rewriteCases(ctx, runner);
    privacyCases(ctx, runner);
  });
}
