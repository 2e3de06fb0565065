/** A collapsible JSON viewer: objects and arrays fold, long strings are cut with a way to see all. */
import { memo, useState } from "react";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const LONG_STRING = 160;

export function JsonTree({ value, openDepth = 1, label }: { value: unknown; openDepth?: number; label?: string }) {
  return (
    <div className="json-tree" title={label}>
      <JsonNode name={null} value={value as Json} depth={0} openDepth={openDepth} />
    </div>
  );
}

const JsonNode = memo(function JsonNode({
  name,
  value,
  depth,
  openDepth,
}: {
  name: string | null;
  value: Json;
  depth: number;
  openDepth: number;
}) {
  const [open, setOpen] = useState(depth < openDepth);
  const key = name !== null && <span className="json-key">{name}: </span>;
  if (value !== null && typeof value === "object") {
    const entries: [string, Json][] = Array.isArray(value)
      ? value.map((v, i) => [String(i), v])
      : Object.entries(value);
    const brackets = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
    const summary = Array.isArray(value)
      ? `${entries.length} item${entries.length === 1 ? "" : "s"}`
      : `${entries.length} key${entries.length === 1 ? "" : "s"}`;
    if (entries.length === 0) {
      return (
        <div className="json-line">
          {key}
          <span className="json-punct">{brackets.join("")}</span>
        </div>
      );
    }
    return (
      <div className="json-node">
        <button type="button" className="json-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
          <span className="json-caret" aria-hidden="true">
            {open ? "▾" : "▸"}
          </span>
          {key}
          <span className="json-punct">{brackets[0]}</span>
          {!open && (
            <>
              <span className="json-summary">{summary}</span>
              <span className="json-punct">{brackets[1]}</span>
            </>
          )}
        </button>
        {open && (
          <div className="json-children">
            {entries.map(([k, v]) => (
              <JsonNode
                key={k}
                name={Array.isArray(value) ? null : k}
                value={v}
                depth={depth + 1}
                openDepth={openDepth}
              />
            ))}
            <span className="json-punct">{brackets[1]}</span>
          </div>
        )}
      </div>
    );
  }
  return (
    <div className="json-line">
      {key}
      <JsonScalar value={value} />
    </div>
  );
});

function JsonScalar({ value }: { value: Json }) {
  const [full, setFull] = useState(false);
  if (typeof value === "string") {
    const cut = !full && value.length > LONG_STRING;
    return (
      <span className="json-string">
        "{cut ? value.slice(0, LONG_STRING) : value}"
        {cut && (
          <button type="button" className="link-button json-more" onClick={() => setFull(true)}>
            … {value.length - LONG_STRING} more characters
          </button>
        )}
      </span>
    );
  }
  if (typeof value === "number") return <span className="json-number">{value}</span>;
  if (typeof value === "boolean") return <span className="json-bool">{String(value)}</span>;
  if (value === null) return <span className="json-null">null</span>;
  return <span className="json-null">{String(value)}</span>;
}
