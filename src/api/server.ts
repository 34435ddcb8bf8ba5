// The local API's listeners: a Unix socket and/or a TCP port, both served by node:http (unlike
// Deno.serve it keeps the body of a GET, which the Packetriot API needs), each request checked
// (no browser origin, capped body, bearer token on TCP) and handed to the router as plain data.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { ApiError, errorFormatOf, errorResponse } from "./api_errors.ts";
import { apiRequest, type ApiResponse, familyOfPath } from "./exchange.ts";
import type { Router } from "./router.ts";
import { log } from "../log/mod.ts";
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
  readonly #servers: Server[] = [];
  #tcpPort: number | undefined;
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
      if (options.tcp) await server.#listenTcp(options.tcp);
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
      await Promise.all(this.#servers.map((server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        })
      ));
      if (this.#options.socketPath) await removeSocketFile(this.#options.socketPath);
    })();
    return this.#stopped;
  }

  async #listenUnix(path: string): Promise<void> {
    const slash = path.lastIndexOf("/");
    if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true, mode: 0o755 });
    await removeSocketFile(path);
    const server = this.#createServer("unix");
    await listen(server, (done) => server.listen(path, done));
    await Deno.chmod(path, this.#options.socketMode ?? 0o660);
    if (this.#options.socketGroup !== undefined) {
      await Deno.chown(path, null, this.#options.socketGroup);
    }
    log.info("API listening", { socket: path });
  }

  async #listenTcp(addr: { hostname: string; port: number }): Promise<void> {
    const server = this.#createServer("tcp");
    await listen(server, (done) => server.listen(addr.port, addr.hostname, done));
    const bound = server.address();
    this.#tcpPort = typeof bound === "object" && bound ? bound.port : addr.port;
    log.info("API listening", { addr: `${addr.hostname}:${this.#tcpPort}` });
  }

  #createServer(kind: "unix" | "tcp"): Server {
    const server = createServer((req, res) => {
      this.#serve(kind, req, res).catch((error) => {
        // A client that hung up mid-request is no fault of ours: nothing to answer or alarm.
        if (isPeerGone(error)) {
          log.debug("API client went away", { error: peerGoneText(error) });
          return;
        }
        log.error("API request failed", { error });
        if (!res.headersSent) send(res, errorResponse("olm", error));
      });
    });
    this.#servers.push(server);
    return server;
  }

  async #serve(kind: "unix" | "tcp", req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? "/";
    const { pathname: path, searchParams } = new URL(target, "http://localhost");
    const refuse = (status: number, message: string) => {
      const format = errorFormatOf(searchParams, req.headers);
      send(res, errorResponse(familyOfPath(path), new ApiError(status, message), format));
      req.resume();
    };
    // A browser sends Origin or Referer; scripts and curl don't. Refusing them stops CSRF
    // and DNS rebinding from a web page.
    if (req.headers.origin !== undefined || req.headers.referer !== undefined) {
      return refuse(403, "Forbidden: browser requests are not allowed");
    }
    if (kind === "tcp" && this.#options.apiToken !== undefined) {
      const auth = req.headers.authorization ?? "";
      if (!timingSafeEqualText(auth, `Bearer ${this.#options.apiToken}`)) {
        res.setHeader("www-authenticate", "Bearer");
        return refuse(401, "Unauthorized");
      }
    }
    const cap = this.#options.maxBodyBytes ?? MAX_BODY_BYTES;
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > cap) return refuse(413, "Request body too large");
    const body = await readBody(req, cap);
    if (body === null) return refuse(413, "Request body too large");
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    const answer = await this.#options.router.handle(
      apiRequest({ method: req.method ?? "GET", target, headers, body }),
    );
    send(res, answer);
  }
}

function listen(server: Server, start: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    start(() => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** The whole body, or null once it grows past `cap`. */
function readBody(req: IncomingMessage, cap: number): Promise<Uint8Array | null> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Uint8Array) => {
      if (over) return;
      size += chunk.length;
      if (size > cap) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (over) return resolve(null);
      const body = new Uint8Array(size);
      let offset = 0;
      for (const chunk of chunks) {
        body.set(chunk, offset);
        offset += chunk.length;
      }
      resolve(body);
    });
    req.on("error", reject);
  });
}

function send(res: ServerResponse, answer: ApiResponse): void {
  let body = "";
  const headers: Record<string, string> = {};
  if (answer.json !== undefined) {
    body = JSON.stringify(answer.json);
    headers["content-type"] = "application/json";
  } else if (answer.text !== undefined) {
    body = answer.text;
    headers["content-type"] = "text/plain; charset=utf-8";
  }
  Object.assign(headers, answer.headers);
  const bytes = new TextEncoder().encode(body);
  headers["content-length"] = String(bytes.length);
  res.writeHead(answer.status, headers);
  res.end(bytes);
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
