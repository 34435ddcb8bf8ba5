// The message of any thrown value, for log fields (the session logs failures, it never
// rethrows them from its background work).

/** `error.message` for an Error, else the value as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
