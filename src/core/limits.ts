import { FrontdeskError } from "./errors.ts";

/** Every bound the core enforces; each one breached gives its error code, never a crash. */
export interface Limits {
  /** Serialized size of one event. @default 262_144 (256 KiB) */
  maxEventBytes: number;
  /** Serialized size of a session's own state. @default 1_048_576 (1 MiB) */
  maxStateBytes: number;
  /** Events one session may hold. @default 1_000_000 */
  maxEventsPerSession: number;
  /** Events in one append. @default 1_000 */
  maxEventsPerAppend: number;
  /** Live sessions one user may own in a namespace; `null` for no bound. @default null */
  maxSessionsPerUser: number | null;
  /** Serialized size of a header's metadata. @default 65_536 */
  maxMetadataBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxEventBytes: 256 * 1024,
  maxStateBytes: 1024 * 1024,
  maxEventsPerSession: 1_000_000,
  maxEventsPerAppend: 1_000,
  maxSessionsPerUser: null,
  maxMetadataBytes: 64 * 1024,
});

export const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? "", "utf8");

export const assertWithin = (what: string, bytes: number, max: number): void => {
  if (bytes > max) {
    throw new FrontdeskError("payload_too_large", `${what} is ${bytes} bytes; the limit is ${max}`, {
      details: { limit: max, size: bytes },
    });
  }
};
