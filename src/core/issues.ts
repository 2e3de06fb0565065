/**
 * Validation failures as people read them: each names the field (`events.0.type`) and what it must
 * be (`must be one of message, tool_call, …`), instead of zod's generic wording. Shared by the
 * library's own checks and the HTTP server's request validation, so both say the same thing.
 */

/** A zod issue, or one rebuilt from what a framework kept of it: its code, path and the fields of its kind. */
export interface IssueLike {
  readonly code?: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly values?: readonly unknown[];
  readonly expected?: string;
  readonly keys?: readonly string[];
  readonly origin?: string;
  readonly minimum?: number | bigint;
  readonly maximum?: number | bigint;
  readonly inclusive?: boolean;
  readonly format?: string;
  readonly pattern?: string;
  readonly errors?: readonly (readonly IssueLike[])[];
}

/** A path as `a.b.0.c`, its middle left out when it is long (a deeply nested value's path is as deep). */
export const pathText = (path: readonly PropertyKey[]): string =>
  (path.length > 12 ? [...path.slice(0, 6), "…", ...path.slice(-5)] : path).map(String).join(".");

const NOUNS: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  bigint: "an integer",
  boolean: "true or false",
  object: "an object",
  array: "an array",
  null: "null",
  date: "a date",
};

const nounOf = (expected: string): string => NOUNS[expected] ?? expected;

const valueText = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value));

/** What zod says it received, from its message (`…, received number`). */
const receivedOf = (message: string): string | undefined => /received (\w+)/.exec(message)?.[1];

const sizeUnit = (origin: string | undefined, count: number): string | undefined => {
  const plural = count === 1 ? "" : "s";
  if (origin === "string") return `character${plural}`;
  if (origin === "array" || origin === "set") return `item${plural}`;
  if (origin === "object" || origin === "record") return `field${plural}`;
  if (origin === "file") return `byte${plural}`;
  return undefined;
};

/** What one issue asks of its field, e.g. `must be one of active, completed`. */
function requirementOf(issue: IssueLike): string {
  switch (issue.code) {
    case "invalid_value": {
      const values = issue.values ?? [];
      if (values.length === 1) return `must be ${valueText(values[0])}`;
      if (values.length > 1) return `must be one of ${values.map(valueText).join(", ")}`;
      break;
    }
    case "invalid_type": {
      const received = receivedOf(issue.message);
      if (received === "undefined") return "is required";
      if (issue.expected === undefined) break;
      return `must be ${nounOf(issue.expected)}${received ? `, not ${received}` : ""}`;
    }
    case "too_small": {
      const minimum = Number(issue.minimum);
      const unit = sizeUnit(issue.origin, minimum);
      if (unit && minimum === 1) return "must not be empty";
      if (unit) return `must have at least ${minimum} ${unit}`;
      if (issue.origin === "number" || issue.origin === "bigint" || issue.origin === "int") {
        return `must be ${issue.inclusive === false ? "greater than" : "at least"} ${minimum}`;
      }
      break;
    }
    case "too_big": {
      const maximum = Number(issue.maximum);
      const unit = sizeUnit(issue.origin, maximum);
      if (unit) return `must have at most ${maximum} ${unit}`;
      if (issue.origin === "number" || issue.origin === "bigint" || issue.origin === "int") {
        return `must be ${issue.inclusive === false ? "less than" : "at most"} ${maximum}`;
      }
      break;
    }
    case "invalid_format":
      if (issue.format === "regex" && issue.pattern) return `must match ${issue.pattern}`;
      if (issue.format) return `must be a valid ${issue.format}`;
      break;
    default:
      break;
  }
  return issue.message;
}

/** The deepest path an issue (or any issue of a union's branch) reaches. */
const depthOf = (issue: IssueLike): number =>
  issue.path.length +
  (issue.code === "invalid_union" && issue.errors?.length
    ? Math.max(0, ...issue.errors.map((branch) => Math.max(0, ...branch.map(depthOf))))
    : 0);

/**
 * The branch of a failed union the input was most likely meant for: the one whose failures go
 * deepest into the value (it matched the most on the way), then the one with the fewest failures.
 */
const likeliestBranch = (branches: readonly (readonly IssueLike[])[]): readonly IssueLike[] => {
  let best: readonly IssueLike[] = [];
  let bestDepth = -1;
  for (const branch of branches) {
    const depth = Math.max(0, ...branch.map(depthOf));
    if (depth > bestDepth || (depth === bestDepth && branch.length < best.length)) {
      best = branch;
      bestDepth = depth;
    }
  }
  return best;
};

/** Issues with unions resolved to the failures of their likeliest branch, paths made absolute. */
function flatten(issues: readonly IssueLike[], prefix: readonly PropertyKey[] = []): IssueLike[] {
  const out: IssueLike[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    const branches = issue.code === "invalid_union" ? (issue.errors ?? []) : [];
    if (branches.length === 0) {
      if (issue.code === "unrecognized_keys" && issue.keys?.length) {
        for (const key of issue.keys)
          out.push({ code: "unrecognized_key", path: [...path, key], message: "is not a known field" });
      } else out.push({ ...issue, path });
      continue;
    }
    // Every branch wants a different kind of value here (`a string or an array`): say so at once.
    const kinds = branches.map((branch) =>
      branch.length === 1 && branch[0]?.code === "invalid_type" && branch[0].path.length === 0
        ? branch[0].expected
        : undefined,
    );
    if (kinds.every((kind) => kind !== undefined)) {
      const first = branches[0]?.[0] as IssueLike;
      const received = receivedOf(first.message);
      const nouns = [...new Set(kinds as string[])].map(nounOf);
      const message =
        received === "undefined"
          ? "is required"
          : `must be ${nouns.slice(0, -1).join(", ")}${nouns.length > 1 ? " or " : ""}${nouns.at(-1)}${received ? `, not ${received}` : ""}`;
      out.push({ code: "union", path, message });
      continue;
    }
    out.push(...flatten(likeliestBranch(branches), path));
  }
  return out;
}

/**
 * One line for a failed validation: `field: requirement`, at most `max` of them joined by `; `.
 * `root` names a failure of the whole value (no path), e.g. `body`.
 */
export function describeIssues(issues: readonly IssueLike[], options: { root?: string; max?: number } = {}): string {
  const { root = "value", max = 3 } = options;
  return flatten(issues)
    .slice(0, max)
    .map((issue) => {
      const requirement =
        issue.code === "union" || issue.code === "unrecognized_key" ? issue.message : requirementOf(issue);
      return `${issue.path.length > 0 ? pathText(issue.path) : root}: ${requirement}`;
    })
    .join("; ");
}
