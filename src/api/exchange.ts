// One exchange of the local API as plain data: the request the handlers read, the answer they
// give, the route that maps one to the other and the two route families. A leaf of api/ (it
// imports only src/schema's types), so the router, the error envelope and the server share it without
// a cycle.

import type { z } from "../schema/mod.ts";

export type RouteFamily = "olm" | "packetriot";

/** Prefix of every Packetriot route; a path under it that matches nothing is answered as Packetriot. */
export const PACKETRIOT_PREFIX = "/api/client/v1.0/";

/** One request as the handlers see it: the whole body is read (and capped) before routing. */
export interface ApiRequest {
  method: string;
  /** The path without the query string, e.g. `/status`. */
  path: string;
  query: URLSearchParams;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  body: Uint8Array;
  /** The body decoded as UTF-8. */
  text(): string;
}

/** A handler's answer: `json` is serialized, else `text` is sent as is, else an empty body. */
export interface ApiResponse {
  status: number;
  json?: unknown;
  text?: string;
  /** Extra headers; names in lower case. */
  headers?: Record<string, string>;
}

/** One documented answer of a route: JSON with a schema, or text of a media type. */
export type ResponseDoc =
  | { description: string; json: z.Schema }
  | { description: string; text: string };

/**
 * What `GET /openapi.json` says of a route (src/api/openapi.ts). `request` is the very
 * schema the handler validates the body with, so the document cannot drift from the code.
 */
export interface RouteDoc {
  summary: string;
  /** The JSON body's schema; absent when the route reads no body. */
  request?: z.Schema;
  /** Success answers by status. Error answers follow from `errors` and the family. */
  responses: Record<number, ResponseDoc>;
  /** Error statuses this route answers besides 404/405 (and 401/403/413 of the listeners). */
  errors?: number[];
}

export interface Route {
  /** Methods served, upper case; any other method on this path is answered 405. */
  methods: readonly string[];
  /** Exact path, e.g. `/connect` or `/api/client/v1.0/info`. */
  path: string;
  handle(req: ApiRequest): Promise<ApiResponse> | ApiResponse;
  family: RouteFamily;
  /** Its entry in the OpenAPI document. */
  doc?: RouteDoc;
}

/** The family that answers `path` when no route matches it. */
export function familyOfPath(path: string): RouteFamily {
  return path.startsWith(PACKETRIOT_PREFIX) ? "packetriot" : "olm";
}

/**
 * Builds an {@linkcode ApiRequest} from plain values, for the server adapter and for tests.
 *
 * @param init method and URL-ish target (`/status?x=1`); body as text or bytes
 */
export function apiRequest(init: {
  method: string;
  target: string;
  headers?: Record<string, string | undefined>;
  body?: string | Uint8Array;
}): ApiRequest {
  const url = new URL(init.target, "http://localhost");
  const body = typeof init.body === "string"
    ? new TextEncoder().encode(init.body)
    : init.body ?? new Uint8Array(0);
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(init.headers ?? {})) {
    headers[name.toLowerCase()] = value;
  }
  return {
    method: init.method.toUpperCase(),
    path: url.pathname,
    query: url.searchParams,
    headers,
    body,
    text: () => new TextDecoder().decode(body),
  };
}
