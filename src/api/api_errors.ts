// The local API's one error type and the one place that turns any thrown value into the
// answer of the route's family: Olm routes answer plain status text, Packetriot routes JSON.
// A DomainError's kind picks the status (a refusal for the agent's state is a conflict: 409).

import { DomainError, type FaultKind } from "../errors/mod.ts";
import { log } from "../log/mod.ts";
import type { ApiResponse, RouteFamily } from "./exchange.ts";

/**
 * A request the API refuses on purpose: `status` is the HTTP status, `message` is safe to
 * show to the client (it never carries a secret).
 */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The one mapping from a domain refusal's kind to the HTTP status the API answers with. */
export const STATUS_OF_KIND: Readonly<Record<FaultKind, number>> = {
  invalid: 400,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  limited: 429,
  internal: 500,
  upstream: 502,
};

/** How an Olm-route error is written: Olm's plain text, or JSON when the client asks for it. */
export type ErrorFormat = "text" | "json";

/**
 * The format a request asks its errors in: `json` with `?format=json` or an `Accept` header
 * naming `application/json`, else `text` (Olm's own format).
 */
export function errorFormatOf(
  query: URLSearchParams,
  headers: Record<string, string | string[] | undefined>,
): ErrorFormat {
  if (query.get("format") === "json") return "json";
  const accept = headers["accept"];
  const text = Array.isArray(accept) ? accept.join(",") : accept ?? "";
  return /(^|[,\s])application\/json\b/i.test(text) ? "json" : "text";
}

/**
 * The answer for an error thrown by a handler, in the envelope of the route's family.
 *
 * - Olm routes: `text/plain` with the message and a newline, as Olm's `http.Error` writes it;
 *   with `format` `json`, the same message as `{"error": message, "status": N}`.
 * - Packetriot routes: `{"status": false, "error": message}`.
 *
 * Anything that is not an {@linkcode ApiError} is logged and answered 500 without details.
 */
export function errorResponse(
  family: RouteFamily,
  error: unknown,
  format: ErrorFormat = "text",
): ApiResponse {
  let status = 500;
  let message = "Internal server error";
  if (error instanceof ApiError) {
    status = error.status;
    message = error.message;
  } else if (error instanceof DomainError) {
    status = STATUS_OF_KIND[error.kind];
    message = error.message;
  } else {
    log.error("API handler failed", {
      error: error instanceof Error ? error.stack ?? error : error,
    });
  }
  if (family === "packetriot") return { status, json: { status: false, error: message } };
  if (format === "json") return { status, json: { error: message, status } };
  return {
    status,
    text: message + "\n",
    headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" },
  };
}
