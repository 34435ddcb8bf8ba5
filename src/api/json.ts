// Request bodies of the local API: JSON parsed and checked with one zod schema per route, so a
// bad body is a clear 400 and never reaches a handler half-valid.

import type { z } from "zod";
import { ApiError } from "./errors.ts";
import type { ApiRequest } from "./router.ts";

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
export function parseJsonBody<S extends z.ZodType>(req: ApiRequest, schema: S): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(req.text());
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : "not JSON";
    throw new ApiError(400, `Invalid request: ${reason}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new ApiError(400, `Invalid request: ${describeIssues(result.error)}`);
  return result.data;
}

function describeIssues(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid body";
  const where = issue.path.length ? `${issue.path.map(String).join(".")}: ` : "";
  return `${where}${issue.message}`;
}
