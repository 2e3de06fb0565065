/**
 * The store contract, for store authors: what every backend must do. It is defined in
 * `core/store-contract.ts` because the core is written against it and imports nothing from
 * `stores/`; every store imports it from here.
 */
export type * from "../core/store-contract.ts";
