import type { SessionHeader } from "../../core/model.ts";
import type { ListCursor, ListQuery } from "../types.ts";

/** Expired means `expiresAt` has passed by the caller's clock; `null` never expires. */
export const isExpired = (header: Pick<SessionHeader, "expiresAt">, now: number): boolean =>
  header.expiresAt !== null && header.expiresAt <= now;

export interface ListPosition {
  value: number;
  /** `null` owners sort as "". */
  owner: string;
  id: string;
}

export const listPositionOf = (header: SessionHeader, orderBy: ListQuery["orderBy"]): ListPosition => ({
  value: header[orderBy],
  owner: header.userId ?? "",
  id: header.id,
});

export const cursorPosition = (cursor: ListCursor): ListPosition => ({
  value: cursor.value,
  owner: cursor.userId ?? "",
  id: cursor.id,
});

/** Plain code-unit order, the same as SQL `COLLATE BINARY`, so every store pages alike. */
const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export const compareListPosition = (a: ListPosition, b: ListPosition): number =>
  a.value - b.value || compareStrings(a.owner, b.owner) || compareStrings(a.id, b.id);

/** The reference meaning of every list filter, for stores that filter in process. */
export const matchesListQuery = (header: SessionHeader, query: ListQuery): boolean => {
  if (header.namespace !== query.namespace) return false;
  if (query.userId !== undefined && header.userId !== query.userId) return false;
  if (isExpired(header, query.now)) return false;
  if (query.status && query.status.length > 0 && !query.status.includes(header.status)) return false;
  if (query.tags && !query.tags.every((tag) => header.tags.includes(tag))) return false;
  if (query.text) {
    const needle = query.text.toLowerCase();
    const inTitle = header.title?.toLowerCase().includes(needle) ?? false;
    const inPurpose = header.purpose?.toLowerCase().includes(needle) ?? false;
    if (!inTitle && !inPurpose) return false;
  }
  if (query.createdAfter !== undefined && !(header.createdAt > query.createdAfter)) return false;
  if (query.createdBefore !== undefined && !(header.createdAt < query.createdBefore)) return false;
  if (query.updatedAfter !== undefined && !(header.updatedAt > query.updatedAfter)) return false;
  if (query.updatedBefore !== undefined && !(header.updatedAt < query.updatedBefore)) return false;
  if (query.after) {
    const cmp = compareListPosition(listPositionOf(header, query.orderBy), cursorPosition(query.after));
    if (query.order === "asc" ? cmp <= 0 : cmp >= 0) return false;
  }
  return true;
};
