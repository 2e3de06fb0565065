/** `frontdesk/testing`: the store conformance suite and a fake clock, for store authors. */
export { FakeClock } from "../core/clock.ts";
export {
  type CaseContext,
  codeOf,
  describeStoreConformance,
  type Runner,
  type StoreHarness,
} from "./conformance/index.ts";
