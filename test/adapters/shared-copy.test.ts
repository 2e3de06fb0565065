/** The adapters' copy of what they read back: deep, mutable, and as plain as JSON.parse made it. */
import { describe, expect, it } from "vitest";
import { copyStored } from "../../src/adapters/shared/copy.ts";
import { deepFreeze } from "../../src/core/state.ts";

describe("copyStored", () => {
  it("copies a frozen stored value deeply into one the caller may change", () => {
    const stored = deepFreeze({
      id: "m1",
      content: { parts: [{ type: "text", text: "hi" }], n: 2, ok: true, no: null },
    });
    const copy = copyStored(stored);
    expect(copy).toEqual(stored);
    (copy.content.parts[0] as { text: string }).text = "changed";
    copy.content.parts.push({ type: "text", text: "more" });
    expect(stored.content.parts).toEqual([{ type: "text", text: "hi" }]);
    expect(Object.isFrozen(copy.content)).toBe(false);
  });

  it("keeps a stored __proto__ key an own key, never the copy's prototype", () => {
    const stored = deepFreeze(JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as { a: Record<string, unknown> });
    const copy = copyStored(stored);
    expect(Object.getPrototypeOf(copy.a)).toBe(Object.prototype);
    expect(Object.keys(copy.a)).toEqual(["__proto__"]);
    expect((copy.a as { polluted?: boolean }).polluted).toBeUndefined();
    expect(JSON.stringify(copy)).toBe(JSON.stringify(stored));
  });
});
