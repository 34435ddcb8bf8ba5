// burrow's one domain error: the parts that refuse something (rules, session, agent, hub
// store) say what kind of refusal it is; only the API maps a kind to an HTTP status, and only
// the CLI maps it to an exit code. A leaf: it imports nothing.

/** What went wrong, in the domain's words (never an HTTP status). */
export type FaultKind =
  /** The input is malformed or out of range: nothing was changed. */
  | "invalid"
  /** The thing named does not exist. */
  | "not_found"
  /** The thing exists already, or the current state forbids the change (e.g. not connected). */
  | "conflict"
  /** The caller is not allowed to do this. */
  | "forbidden"
  /** Too much, too often: a quota or a rate limit. */
  | "limited"
  /** The input is larger than what is accepted. */
  | "too_large"
  /** A party burrow depends on (the hub, an upstream) failed or refused. */
  | "upstream"
  /** burrow itself could not do it (disk, a bug): nothing was changed. */
  | "internal";

/** A refusal with a kind; `message` is safe to show to whoever asked (it never carries a secret). */
export class DomainError extends Error {
  override name = "DomainError";
  constructor(readonly kind: FaultKind, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Whether `error` is a {@linkcode DomainError} (of one of `kinds`, when given). */
export function isDomainError(error: unknown, ...kinds: FaultKind[]): error is DomainError {
  return error instanceof DomainError && (kinds.length === 0 || kinds.includes(error.kind));
}
