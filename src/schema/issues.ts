// What a failed validation reports: one issue per problem, each with the path of the field it
// is about, a code callers may branch on and a message meant for the person who sent the input.
// The default messages name what was expected and what was found; a schema may replace them.

/** A key of an object or an index of an array, from the root of the input to the bad value. */
export type PathKey = string | number;

/** The codes an issue may carry. */
export type IssueCode =
  | "invalid_type"
  | "too_small"
  | "too_big"
  | "invalid_format"
  | "invalid_value"
  | "invalid_union"
  | "custom";

/** One problem of the input. `unrecognized_keys` (a strict object's extra fields) lists them. */
export type Issue =
  | { code: IssueCode; path: PathKey[]; message: string }
  | { code: "unrecognized_keys"; path: PathKey[]; message: string; keys: string[] };

/** A custom message: `{ message }` or the text itself. */
export type MessageParam = string | { message?: string };

export function messageOf(param: MessageParam | undefined): string | undefined {
  return typeof param === "string" ? param : param?.message;
}

/** Thrown by `parse`, returned by `safeParse`: the input and every issue found (at most 100). */
export class SchemaError extends Error {
  override name = "SchemaError";
  constructor(readonly issues: Issue[]) {
    super(
      issues.map((issue) =>
        issue.path.length ? `${issue.path.join(".")}: ${issue.message}` : issue.message
      ).join("; ") || "invalid input",
    );
  }
}

/** How a message names a value's kind: `array` and `null` apart from other objects. */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && Number.isNaN(value)) return "NaN";
  if (typeof value === "number" && !Number.isFinite(value)) return "Infinity";
  return typeof value;
}

export function typeMessage(expected: string, value: unknown): string {
  return `Invalid input: expected ${expected}, received ${kindOf(value)}`;
}

/** What a size bound counts: a string's characters, an array's items, a number itself. */
export type Measured = "string" | "array" | "number";

export function boundMessage(measured: Measured, bound: "min" | "max", limit: number): string {
  const op = bound === "min" ? ">=" : "<=";
  const word = bound === "min" ? "Too small" : "Too big";
  if (measured === "number") return `${word}: expected number to be ${op}${limit}`;
  const unit = measured === "string" ? "characters" : "items";
  return `${word}: expected ${measured} to have ${op}${limit} ${unit}`;
}

/**
 * Collects issues while a value is checked. The count is capped so a hostile input (a huge
 * array of wrong elements) costs bounded memory: past the cap, checking stops.
 */
export class IssueSink {
  static readonly MAX_ISSUES = 100;
  readonly issues: Issue[] = [];

  get full(): boolean {
    return this.issues.length >= IssueSink.MAX_ISSUES;
  }

  add(issue: Issue): void {
    if (!this.full) this.issues.push(issue);
  }
}
