import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { copyJson, copyJsonObject, JsonFault, MAX_JSON_DEPTH } from "../../src/core/json.ts";
import type { Json } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";

const faultOf = (run: () => unknown): JsonFault => {
  try {
    run();
  } catch (error) {
    if (error instanceof JsonFault) return error;
    throw error;
  }
  throw new Error("expected a JsonFault");
};

/** `value` with `leaf` put at `path` (which must lead through objects and arrays of `value`). */
const withLeafAt = (value: Json, path: (string | number)[], leaf: unknown): unknown => {
  if (path.length === 0) return leaf;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (Array.isArray(value)) {
    const copy: unknown[] = [...value];
    copy[head as number] = withLeafAt(value[head as number] as Json, rest, leaf);
    return copy;
  }
  const record = value as Record<string, Json>;
  return { ...record, [head]: withLeafAt(record[head as string] as Json, rest, leaf) };
};

/** Every path to a value inside `value`, the empty path first. */
const pathsOf = (value: Json): (string | number)[][] => {
  const paths: (string | number)[][] = [[]];
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      for (const path of pathsOf(item)) paths.push([i, ...path]);
    });
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) for (const path of pathsOf(item)) paths.push([key, ...path]);
  }
  return paths;
};

const jsonValue = fc
  .jsonValue({ maxDepth: 4 })
  .filter((value) => !JSON.stringify(value).includes('"__proto__"')) as fc.Arbitrary<Json>;

describe("copyJson", () => {
  it("copies any JSON value into an equal value that shares no object or array with it", () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        const copy = copyJson(value);
        expect(copy).toStrictEqual(value);
        const originals = new Set<unknown>();
        for (const path of pathsOf(value)) {
          const inner = path.reduce<unknown>((at, key) => (at as Record<string, unknown>)[key], value);
          if (inner !== null && typeof inner === "object") originals.add(inner);
        }
        for (const path of pathsOf(copy)) {
          const inner = path.reduce<unknown>((at, key) => (at as Record<string, unknown>)[key], copy);
          expect(originals.has(inner)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("names the path of a value that is not JSON, wherever it sits", () => {
    const notJson = fc.constantFrom<unknown>(
      Number.NaN,
      Number.POSITIVE_INFINITY,
      undefined,
      () => 1,
      Symbol("s"),
      10n,
      new Date(0),
      new Map(),
      new Uint8Array(2),
    );
    fc.assert(
      fc.property(
        jsonValue.chain((value) => fc.tuple(fc.constant(value), fc.constantFrom(...pathsOf(value)))),
        notJson,
        ([value, path], leaf) => {
          const fault = faultOf(() => copyJson(withLeafAt(value, path, leaf)));
          expect(fault.path).toEqual(path);
          expect(fault.message).toMatch(/finite number|plain JSON/);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses nesting deeper than the limit, and an object that contains itself, without overflowing the stack", () => {
    const nested = (depth: number): Json => {
      let value: Json = 1;
      for (let i = 0; i < depth; i++) value = { a: value };
      return value;
    };
    expect(copyJson(nested(MAX_JSON_DEPTH))).toEqual(nested(MAX_JSON_DEPTH));
    expect(faultOf(() => copyJson(nested(MAX_JSON_DEPTH + 1))).message).toMatch(/deeper than 1000 levels/);
    expect(faultOf(() => copyJson(nested(100_000))).message).toMatch(/deeper than/);
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    expect(faultOf(() => copyJson(loop)).message).toMatch(/contains itself/);
  });

  it('refuses an own "__proto__" key instead of letting it set the copy\'s prototype', () => {
    const parsed = JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as unknown;
    const fault = faultOf(() => copyJson(parsed));
    expect(fault.path).toEqual(["a", "__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("keeps null-prototype objects, drops symbol keys as JSON does, and wants an object where one is asked for", () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(copyJson({ bare, [Symbol("hidden")]: 1 })).toEqual({ bare: { a: 1 } });
    expect(faultOf(() => copyJsonObject([1])).message).toBe("must be an object, not an array");
    expect(faultOf(() => copyJsonObject(null)).message).toBe("must be an object, not object");
  });
});

describe("stored values through SessionManager", () => {
  const sessions = () => new SessionManager(() => ({}), createMemoryStore(), "json-test").forUser("u");

  it("state, metadata and event bodies that are not JSON are refused with the path, and nothing is stored", async () => {
    const manager = sessions();
    const { id, lastSeq } = await manager.create({ state: { a: 1 } });
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 5000; i++) at = at.next = {};
    const loop: Record<string, unknown> = {};
    loop.loop = loop;
    for (const bad of [deep, loop, { when: new Date(0) }, { list: [1, Number.NaN] }]) {
      await expect(manager.update(id, (state) => ({ ...state, bad }) as never)).rejects.toMatchObject({
        code: "invalid_request",
      });
      await expect(
        manager.addMessage(id, { role: "user", content: "x", metadata: { bad } } as never),
      ).rejects.toMatchObject({
        code: "invalid_request",
      });
    }
    await expect(manager.update(id, (state) => ({ ...state, list: [1, Number.NaN] }))).rejects.toThrow(
      /list\.1: must be a finite number/,
    );
    await expect(
      manager.addMessage(id, { role: "user", content: "x", extra: { when: [new Date(0)] } } as never),
    ).rejects.toThrow(/extra\.when\.0: must be plain JSON, not Date/);
    await expect(manager.update(id, (state) => ({ ...state, deep }) as never)).rejects.toThrow(
      /: deep(\.next){5}\.…(\.next){5}: nests deeper than 1000 levels/,
    );
    const after = await manager.get(id);
    expect(after.state).toEqual({ a: 1 });
    expect(after.lastSeq).toBe(lastSeq);
  });

  it("stores a copy: changing the caller's objects afterwards changes nothing stored, and they stay unfrozen", async () => {
    const manager = sessions();
    const state = { nested: { count: 1 } };
    const { id } = await manager.create({ state });
    state.nested.count = 2;
    expect(Object.isFrozen(state.nested)).toBe(false);
    expect((await manager.get(id)).state).toEqual({ nested: { count: 1 } });

    // The same holds for a message's undeclared fields and usage extras, which are kept as given.
    const providerOptions = { openai: { store: true } };
    const usage = { inputTokens: 3, detail: { cached: 1 } };
    await manager.addMessage(id, { role: "assistant", content: "hi", providerOptions, usage } as never);
    providerOptions.openai.store = false;
    usage.detail.cached = 2;
    expect(Object.isFrozen(providerOptions.openai)).toBe(false);
    expect(Object.isFrozen(usage.detail)).toBe(false);
    const [stored] = await manager.getMessages(id);
    expect(stored).toMatchObject({ providerOptions: { openai: { store: true } }, usage: { detail: { cached: 1 } } });
  });
});
