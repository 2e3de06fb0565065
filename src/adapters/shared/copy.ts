/**
 * A mutable copy of a value read from a store. What Frontdesk reads back is frozen and plain JSON
 * (the store parsed it), and the frameworks hand what they read to code that changes it, so every
 * adapter copies on the way out. A walk over plain objects and arrays costs a fraction of
 * `structuredClone`, which must handle every cloneable type: it is the largest part of a read of
 * 50 messages otherwise.
 */
export function copyStored<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copyStored) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    // Defined as an own property, so a stored "__proto__" key stays a key, as JSON.parse made it.
    const child = copyStored((value as Record<string, unknown>)[key]);
    if (key === "__proto__")
      Object.defineProperty(copy, key, { value: child, enumerable: true, writable: true, configurable: true });
    else copy[key] = child;
  }
  return copy as T;
}
