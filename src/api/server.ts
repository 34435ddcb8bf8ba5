// The local API's listeners: a Unix socket and/or a TCP port, both served by
// src/api/api_listener.ts (it keeps the body of a GET, which the Packetriot API needs, and
// survives held-open connections and descriptor exhaustion), each request checked (no browser
// origin, capped body, bearer token on TCP) and handed to the router as plain data.

import { ApiError, errorFormatOf, errorResponse } from "./api_errors.ts";
import { ApiListener, DEFAULT_LISTENER_LIMITS, type ListenerLimits } from "./api_listener.ts";
import type { RawRequest } from "./api_listener.ts";
import { apiRequest, type ApiResponse, familyOfPath } from "./exchange.ts";
import type { Router } from "./router.ts";
import { log } from "../log/mod.ts";
import { bindUnixSocket, claimSocketPath } from "./socket_guard.ts";
import { isPeerGone, peerGoneText } from "../net/mod.ts";

/** Largest request body accepted; larger ones are answered 413. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiServerOptions {
  router: Router;
  /** Unix socket to listen on; its directory is created and a stale file replaced. */
  socketPath?: string;
  /** File mode of the socket; burrow defaults to 0660 (Olm uses 0666). */
  socketMode?: number;
  /** Group id of the socket file, so an operator group can use it (mode 0660). */
  socketGroup?: number;
  /** TCP address to listen on; port 0 picks a free port (see {@linkcode ApiServer.tcpPort}). */
  tcp?: { hostname: string; port: number };
  /** When set, TCP requests must carry `Authorization: Bearer TOKEN`. */
  apiToken?: string;
  maxBodyBytes?: number;
  /** Timeouts and connection caps; see src/api/api_listener.ts for the defaults. */
  limits?: Partial<Omit<ListenerLimits, "maxBodyBytes">>;
}

/**
 * Serves the router on every configured listener.
 *
 * @example Start and stop
 * ```ts
 * const server = await ApiServer.start({ router, socketPath: "/run/burrow.sock" });
 * await server.stop();
 * ```
 */
export class ApiServer {
  readonly #options: ApiServerOptions;
  readonly #servers: ApiListener[] = [];
  #tcpPort: number | undefined;
  /** Whether this server created the socket file (only then does stop() remove it). */
  #ownsSocket = false;
  #stopped: Promise<void> | undefined;

  private constructor(options: ApiServerOptions) {
    this.#options = options;
  }

  /**
   * Opens every listener; on failure closes those already open.
   *
   * @throws {TypeError} when neither a socket nor TCP is configured
   */
  static async start(options: ApiServerOptions): Promise<ApiServer> {
    if (!options.socketPath && !options.tcp) {
      throw new TypeError("Cannot start the API: no socket path and no TCP address");
    }
    const server = new ApiServer(options);
    try {
      if (options.socketPath) await server.#listenUnix(options.socketPath);
      if (options.tcp) server.#listenTcp(options.tcp);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** The TCP port actually bound, when TCP is served. */
  get tcpPort(): number | undefined {
    return this.#tcpPort;
  }

  /** Closes every listener (open connections are ended) and removes the socket file. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await Promise.all(this.#servers.map((server) => server.close()));
      if (this.#options.socketPath && this.#ownsSocket) {
        await removeSocketFile(this.#options.socketPath);
      }
    })();
    return this.#stopped;
  }

  async #listenUnix(path: string): Promise<void> {
    const slash = path.lastIndexOf("/");
    if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true, mode: 0o755 });
    await claimSocketPath(path);
    // Bound under a temporary name, given its mode and group, then renamed into place: the
    // socket never appears at `path` with the process's default mode.
    const listener = await bindUnixSocket(path, async (bound) => {
      await Deno.chmod(bound, this.#options.socketMode ?? 0o660);
      if (this.#options.socketGroup !== undefined) {
        await Deno.chown(bound, null, this.#options.socketGroup);
      }
    });
    this.#ownsSocket = true;
    this.#serveOn(listener, "unix");
    log.info("API listening", { socket: path });
  }

  #listenTcp(addr: { hostname: string; port: number }): void {
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ hostname: addr.hostname, port: addr.port });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`Cannot listen on ${addr.hostname}:${addr.port}: ${reason}`, {
        cause: error,
      });
    }
    this.#serveOn(listener, "tcp");
    this.#tcpPort = (listener.addr as Deno.NetAddr).port;
    log.info("API listening", { addr: `${addr.hostname}:${this.#tcpPort}` });
  }

  #serveOn(listener: Deno.Listener, kind: "unix" | "tcp"): void {
    const limits: ListenerLimits = {
      ...DEFAULT_LISTENER_LIMITS,
      ...this.#options.limits,
      maxBodyBytes: this.#options.maxBodyBytes ?? MAX_BODY_BYTES,
    };
    const handler = (req: RawRequest) =>
      this.#serve(kind, req).catch((error) => {
        // A client that hung up mid-request is no fault of ours: nothing to alarm about.
        if (isPeerGone(error)) log.debug("API client went away", { error: peerGoneText(error) });
        else log.error("API request failed", { error });
        return errorResponse("olm", error);
      });
    this.#servers.push(new ApiListener(listener, handler, limits, log));
  }

  async #serve(kind: "unix" | "tcp", req: RawRequest): Promise<ApiResponse> {
    const target = req.target;
    const { pathname: path, searchParams } = new URL(target, "http://localhost");
    const refuse = (status: number, message: string, headers: Record<string, string> = {}) => {
      const format = errorFormatOf(searchParams, req.headers);
      const answer = errorResponse(familyOfPath(path), new ApiError(status, message), format);
      return { ...answer, headers: { ...answer.headers, ...headers } };
    };
    // A browser sends Origin or Referer; scripts and curl don't. Refusing them stops CSRF
    // and DNS rebinding from a web page.
    if (req.headers.origin !== undefined || req.headers.referer !== undefined) {
      return refuse(403, "Forbidden: browser requests are not allowed");
    }
    if (kind === "tcp" && this.#options.apiToken !== undefined) {
      const auth = req.headers.authorization ?? "";
      if (!timingSafeEqualText(auth, `Bearer ${this.#options.apiToken}`)) {
        return refuse(401, "Unauthorized", { "www-authenticate": "Bearer" });
      }
    }
    if (req.body === null) return refuse(413, "Request body too large");
    return await this.#options.router.handle(
      apiRequest({ method: req.method, target, headers: req.headers, body: req.body }),
    );
  }
}

async function removeSocketFile(path: string): Promise<void> {
  try {
    const info = await Deno.lstat(path);
    // Never delete a regular file or directory that happens to sit at the socket path.
    if (!info.isSocket) {
      throw new Error(`Cannot listen on ${path}: a file that is not a socket is in the way`);
    }
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

function timingSafeEqualText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
