import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import type { KeyRing } from "./key-ring.ts";
import type { MasterKeyProvider } from "./master-keys.ts";

export interface RotateMasterKeyOptions {
  /** Called after each data key looked at. */
  readonly onProgress?: (progress: RotateMasterKeyResult) => void;
}

export interface RotateMasterKeyResult {
  /** Data keys now wrapped by the current master key that were wrapped by an older one. */
  readonly rewrapped: number;
  /** Data keys that were already wrapped by the current master key. */
  readonly current: number;
  /** Data keys destroyed (a forgotten user) while the rotation ran: nothing to rewrap. */
  readonly gone: number;
  /** False when the ring's files still hold old wrappings (a reader held the SQLite log); run it again. */
  readonly scrubbed: boolean;
}

/**
 * Master-key rotation: rewraps every data key that an older master key wrapped with the current
 * one (`masterKeys.currentKeyId()`). Only the key ring changes: no event, state or metadata value
 * is rewritten, and the data keys themselves stay the same. Once it has run, the old master key
 * can be removed from the provider. Safe to rerun and to run while servers use the ring.
 *
 * @example
 * // FRONTDESK_MASTER_KEYS="k2:<new>,k1:<old>"
 * await rotateMasterKey(sqliteKeyRing(path), envMasterKeys());
 * // then FRONTDESK_MASTER_KEYS="k2:<new>"
 */
export async function rotateMasterKey(
  keyRing: KeyRing,
  masterKeys: MasterKeyProvider,
  options: RotateMasterKeyOptions = {},
): Promise<RotateMasterKeyResult> {
  const target = masterKeys.currentKeyId();
  let progress: RotateMasterKeyResult = { rewrapped: 0, current: 0, gone: 0, scrubbed: true };
  for await (const entry of keyRing.entries()) {
    if (entry.masterKeyId === target) {
      progress = { ...progress, current: progress.current + 1 };
    } else {
      const dataKey = await provider(() => masterKeys.unwrap(entry.masterKeyId, entry.wrapped));
      const { masterKeyId, wrapped } = await provider(() => masterKeys.wrap(dataKey));
      dataKey.fill(0);
      const replaced = await keyRing.rewrap({ ...entry, masterKeyId, wrapped });
      progress = replaced
        ? { ...progress, rewrapped: progress.rewrapped + 1 }
        : { ...progress, gone: progress.gone + 1 };
    }
    options.onProgress?.(progress);
  }
  // The old wrappings may linger in the ring's files until scrubbed; harmless unless the old master key leaks.
  if (progress.rewrapped > 0 && keyRing.scrub) progress = { ...progress, scrubbed: !(await keyRing.scrub()).pending };
  return progress;
}

async function provider<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isFrontdeskError(error)) throw error;
    throw new FrontdeskError("unavailable", "The master key provider is unavailable", { cause: error });
  }
}
