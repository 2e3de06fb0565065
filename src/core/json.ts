/** A value stored as plain JSON: what state, metadata and event bodies are made of. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/**
 * Deepest nesting a stored value may have (SQLite's own JSON functions stop at the same depth).
 * Deeper input, or an object that contains itself, is refused instead of overflowing the stack.
 */
export const MAX_JSON_DEPTH = 1000;

/** Where a value stops being plain JSON: the path to the offending part and what is wrong with it. */
export class JsonFault {
  readonly path: (string | number)[] = [];
  constructor(readonly message: string) {}
}

const describe = (value: unknown): string => {
  if (value === undefined) return "undefined";
  if (typeof value === "object" && value !== null) return value.constructor?.name ?? "object";
  return typeof value;
};

const copyValue = (value: unknown, depth: number): Json => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (Number.isFinite(value)) return value;
      throw new JsonFault("must be a finite number");
    case "object":
      if (value === null) return null;
      if (depth >= MAX_JSON_DEPTH) {
        throw new JsonFault(`nests deeper than ${MAX_JSON_DEPTH} levels (or contains itself)`);
      }
      if (Array.isArray(value)) return copyArray(value, depth + 1);
      return copyRecord(value, depth + 1);
    default:
      throw new JsonFault(`must be plain JSON, not ${describe(value)}`);
  }
};

const copyArray = (items: readonly unknown[], depth: number): Json[] => {
  const copy = new Array<Json>(items.length);
  for (let i = 0; i < items.length; i++) {
    try {
      copy[i] = copyValue(items[i], depth);
    } catch (error) {
      if (error instanceof JsonFault) error.path.unshift(i);
      throw error;
    }
  }
  return copy;
};

const copyRecord = (record: object, depth: number): JsonObject => {
  const prototype = Object.getPrototypeOf(record);
  if (prototype !== Object.prototype && prototype !== null) {
    throw new JsonFault(`must be plain JSON, not ${describe(record)}`);
  }
  const copy: JsonObject = {};
  for (const key of Object.keys(record)) {
    // An own "__proto__" (JSON.parse makes one) would set a copy's prototype when assigned.
    if (key === "__proto__") {
      const fault = new JsonFault('"__proto__" is not allowed as a key');
      fault.path.push(key);
      throw fault;
    }
    try {
      copy[key] = copyValue((record as Record<string, unknown>)[key], depth);
    } catch (error) {
      if (error instanceof JsonFault) error.path.unshift(key);
      throw error;
    }
  }
  return copy;
};

/**
 * A fresh copy of `value` made of plain JSON only (plain objects and arrays, strings, finite
 * numbers, booleans, null), or a thrown {@link JsonFault} naming where it is not. One walk that
 * allocates only the copy: every stored state, metadata and event body passes through it.
 */
export const copyJson = (value: unknown): Json => copyValue(value, 0);

/** Like {@link copyJson}, for a value that must be a JSON object. */
export const copyJsonObject = (value: unknown): JsonObject => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new JsonFault(`must be an object, not ${Array.isArray(value) ? "an array" : describe(value)}`);
  }
  return copyRecord(value, 1);
};
