/**
 * An aligned text table: columns padded to their widest cell, two spaces apart, the last column
 * unpadded so lines carry no trailing spaces. Cells are single-line (newlines become spaces).
 */
export function renderTable(headings: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const clean = (cell: string): string => {
    // The white space around each line break folds into one space, in one linear pass: a regex
    // anchored on the break (/\s*\n\s*/) rescans a long run of spaces from each of its characters.
    if (!cell.includes("\n")) return cell;
    const parts = cell
      .split("\n")
      .map((part, i, all) => (i === 0 ? part.trimEnd() : i === all.length - 1 ? part.trimStart() : part.trim()));
    return parts.filter((part, i) => part !== "" || i === 0 || i === parts.length - 1).join(" ");
  };
  const all = [headings.map(clean), ...rows.map((row) => row.map(clean))];
  const widths = headings.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  return all.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
}

/** An ISO timestamp without milliseconds, or "-" for none. */
export const formatTime = (epochMs: number | null | undefined): string =>
  epochMs === null || epochMs === undefined ? "-" : new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Shortens text to `max` characters with an ellipsis. */
export const truncate = (text: string, max: number): string =>
  text.length <= max ? text : `${text.slice(0, max - 1)}…`;
