/** `frontdesk/testing`: the store conformance suite and a fake clock, for store authors. */
export { FakeClock } from "../core/clock.ts";
export { codeOf, describeStoreConformance, type Runner, type StoreHarness, type CaseContext } from "./conformance/index.ts";
