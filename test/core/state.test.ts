import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Json, JsonObject } from "../../src/core/model.ts";
import { applyDelta, deepFreeze, diffState, jsonEqual, mergePatch, splitDelta } from "../../src/core/state.ts";

const jsonObject = fc.dictionary(
  fc.string({ maxLength: 6 }),
  fc.jsonValue({ maxDepth: 3 }).filter((v) => v !== null),
) as fc.Arbitrary<JsonObject>;

describe("state helpers", () => {
  it("applying the diff of two states turns the first into the second", () => {
    fc.assert(
      fc.property(jsonObject, jsonObject, (before, after) => {
        expect(jsonEqual(applyDelta(before, diffState(before, after)), after)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("a delta's null deletes the key and leaves the input untouched", () => {
    const before = { a: 1, b: 2 };
    expect(applyDelta(before, { a: null, c: 3 })).toEqual({ b: 2, c: 3 });
    expect(before).toEqual({ a: 1, b: 2 });
  });

  it("splits deltas by scope and drops temp: keys", () => {
    expect(splitDelta({ a: 1, "user:b": 2, "app:c": 3, "temp:d": 4 })).toEqual({
      session: { a: 1 },
      user: { "user:b": 2 },
      app: { "app:c": 3 },
    });
  });

  it("merge patch follows RFC 7396", () => {
    const target: Json = { a: "b", c: { d: "e", f: "g" } };
    expect(mergePatch(target, { a: "z", c: { f: null } })).toEqual({ a: "z", c: { d: "e" } });
    expect(mergePatch({ a: [1, 2] }, { a: [3] })).toEqual({ a: [3] });
    expect(mergePatch({ a: 1 }, ["x"])).toEqual(["x"]);
  });

  it("deepFreeze freezes every level", () => {
    const value = deepFreeze({ a: { b: [{ c: 1 }] } });
    expect(Object.isFrozen(value.a.b[0])).toBe(true);
  });
});
