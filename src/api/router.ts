// The local API's one route table: both families (Olm at the root, Packetriot under
// /api/client/v1.0/) are matched here, and errors become each family's envelope. No I/O:
// src/api/server.ts adapts sockets to `ApiRequest`/`ApiResponse`, tests call `handle` directly.

import { ApiError, errorFormatOf, errorResponse } from "./api_errors.ts";
import { type ApiRequest, type ApiResponse, familyOfPath, type Route } from "./exchange.ts";

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
    const format = errorFormatOf(req.query, req.headers);
    if (!candidates) {
      return errorResponse(familyOfPath(req.path), new ApiError(404, "Not found"), format);
    }
    const route = candidates.find((r) => r.methods.includes(req.method));
    if (!route) {
      const allowed = [...new Set(candidates.flatMap((r) => r.methods))].join(", ");
      const answer = errorResponse(
        candidates[0].family,
        new ApiError(405, "Method not allowed"),
        format,
      );
      return { ...answer, headers: { ...answer.headers, allow: allowed } };
    }
    try {
      return await route.handle(req);
    } catch (error) {
      return errorResponse(route.family, error, format);
    }
  }
}
