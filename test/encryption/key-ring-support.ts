/** What the key ring tests share: an entry with random key bytes, and one SQL statement on a fresh connection. */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { KeyRingEntry } from "../../src/encryption/key-ring.ts";

export const KEY_RING_NAMESPACE = "ns";

/** An entry of user `u1` with a fresh data key id and wrapping; `fields` override any of it. */
export const keyRingEntry = (fields: Partial<KeyRingEntry> = {}): KeyRingEntry => ({
  namespace: KEY_RING_NAMESPACE,
  userId: "u1",
  dataKeyId: randomBytes(8).toString("hex"),
  masterKeyId: "k1",
  wrapped: randomBytes(60),
  createdAt: 1,
  ...fields,
});

/** Runs one statement on a connection of its own, closed afterwards. */
export async function sqlAt<T extends pg.QueryResultRow>(url: string, text: string, values?: unknown[]): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}
