// The local API's one route table: both families (Olm at the root, Packetriot under
// /api/client/v1.0/) are matched here, and errors become each family's envelope. No I/O:
// src/api/server.ts adapts sockets to `ApiRequest`/`ApiResponse`, tests call `handle` directly.

import { ApiError, errorResponse } from "./errors.ts";

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

export interface Route {
  /** Methods served, upper case; any other method on this path is answered 405. */
  methods: readonly string[];
  /** Exact path, e.g. `/connect` or `/api/client/v1.0/info`. */
  path: string;
  handle(req: ApiRequest): Promise<ApiResponse> | ApiResponse;
  family: RouteFamily;
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

/**
 * The route table. Matching is by exact path, then method: an unknown path is 404 and a known
 * path with another method 405, each in the envelope of the path's family. A handler's thrown
 * {@linkcode ApiError} becomes that status; anything else a bare 500.
 *
 * @example Answer a request without a socket
 * ```ts
 * const router = new Router([...olmRoutes(agent)]);
 * const answer = await router.handle(apiRequest({ method: "GET", target: "/health" }));
 * ```
 */
export class Router {
  readonly #byPath = new Map<string, Route[]>();

  /** @throws {TypeError} when two routes claim the same method on the same path */
  constructor(routes: readonly Route[]) {
    for (const route of routes) {
      const list = this.#byPath.get(route.path) ?? [];
      for (const method of route.methods) {
        if (list.some((r) => r.methods.includes(method))) {
          throw new TypeError(`Cannot build the router: ${method} ${route.path} is routed twice`);
        }
      }
      list.push(route);
      this.#byPath.set(route.path, list);
    }
  }

  /** Every route, for listings and tests. */
  routes(): Route[] {
    return [...this.#byPath.values()].flat();
  }

  /** Answers one request; never throws. */
  async handle(req: ApiRequest): Promise<ApiResponse> {
    const candidates = this.#byPath.get(req.path);
    if (!candidates) {
      return errorResponse(familyOfPath(req.path), new ApiError(404, "Not found"));
    }
    const route = candidates.find((r) => r.methods.includes(req.method));
    if (!route) {
      const allowed = [...new Set(candidates.flatMap((r) => r.methods))].join(", ");
      const answer = errorResponse(
        candidates[0].family,
        new ApiError(405, "Method not allowed"),
      );
      return { ...answer, headers: { ...answer.headers, allow: allowed } };
    }
    try {
      return await route.handle(req);
    } catch (error) {
      return errorResponse(route.family, error);
    }
  }
}
