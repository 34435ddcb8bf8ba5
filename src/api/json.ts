// Request bodies of the local API: JSON parsed (and checked with one schema per route where
// the route has one), so a bad body is a clear 400 and never reaches a handler half-valid.

import type { z } from "../schema/mod.ts";
import { ApiError } from "./api_errors.ts";
import type { ApiRequest } from "./exchange.ts";

/**
 * The request body parsed as JSON. Any method may carry one (Packetriot scripts send
 * `traffic/delete` as a GET with a body).
 *
 * @throws {ApiError} 400 "Invalid request: ..." when the body is empty or not JSON
 */
export function readJsonBody(req: ApiRequest): unknown {
  const text = req.text();
  if (text.trim() === "") throw new ApiError(400, "Invalid request: request body must be JSON");
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? ` (${error.message})` : "";
    throw new ApiError(400, `Invalid request: request body is not valid JSON${reason}`);
  }
}

/**
 * Parses the request body as JSON and validates it with `schema`.
 *
 * Use `z.strictObject` where an unknown field would be a client mistake worth refusing and
 * `z.object` (which drops unknown fields) where clients may send more than burrow reads.
 *
 * @param req the request
 * @param schema the body's schema
 * @returns the validated body
 * @throws {ApiError} 400 with "Invalid request: ..." naming the first problem
 */
export function parseJsonBody<S extends z.Schema>(req: ApiRequest, schema: S): z.output<S> {
  const result = schema.safeParse(readJsonBody(req));
  if (!result.success) throw new ApiError(400, `Invalid request: ${describeIssues(result.error)}`);
  return result.data;
}

function describeIssues(error: z.SchemaError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid body";
  const where = issue.path.length ? `${issue.path.map(String).join(".")}: ` : "";
  return `${where}${issue.message}`;
}
