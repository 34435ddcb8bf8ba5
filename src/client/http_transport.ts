// How the client reaches the agent: fetch over TCP, or over a Unix socket through
// Deno.createHttpClient's unix proxy; node:http only for a GET that carries a body
// (Packetriot's traffic/delete), which fetch refuses to send.

import { request as nodeRequest } from "node:http";

/** One answer, its body still text. */
export interface RawAnswer {
  status: number;
  contentType: string;
  text: string;
}

export interface TransportOptions {
  /** `http://127.0.0.1:4100`, the Packetriot base URL; or give `socketPath`. */
  baseUrl?: string;
  /** The Olm socket, e.g. `/var/run/olm.sock`. */
  socketPath?: string;
  /** Sent as `Authorization: Bearer TOKEN` (the agent checks it on TCP). */
  token?: string;
}

/** Sends requests to one agent; close() frees the socket client. */
export class Transport {
  readonly #base: URL;
  readonly #socketPath: string | undefined;
  readonly #token: string | undefined;
  readonly #httpClient: Deno.HttpClient | undefined;

  /** @throws {TypeError} unless exactly one of baseUrl and socketPath is given */
  constructor(options: TransportOptions) {
    if (Boolean(options.baseUrl) === Boolean(options.socketPath)) {
      throw new TypeError("BurrowClient needs exactly one of baseUrl and socketPath");
    }
    this.#socketPath = options.socketPath;
    this.#token = options.token;
    this.#base = new URL(options.baseUrl ?? "http://localhost/");
    // The agent's API is plain HTTP on loopback or a socket (docs/api.md).
    if (this.#base.protocol !== "http:") {
      throw new TypeError(`BurrowClient baseUrl must be an http:// URL: ${options.baseUrl}`);
    }
    if (this.#socketPath) {
      this.#httpClient = Deno.createHttpClient({
        proxy: { transport: "unix", path: this.#socketPath },
      });
    }
  }

  /** Sends one request; `body` goes as JSON. Network failures reject as thrown by fetch. */
  async send(method: string, path: string, body?: unknown): Promise<RawAnswer> {
    const url = new URL(path.replace(/^\//, ""), withSlash(this.#base));
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    if (text !== undefined) headers["content-type"] = "application/json";
    if (method === "GET" && text !== undefined) return await this.#nodeSend(url, headers, text);
    const response = await fetch(url, {
      method,
      headers,
      body: text,
      ...(this.#httpClient ? { client: this.#httpClient } : {}),
    });
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      text: await response.text(),
    };
  }

  close(): void {
    this.#httpClient?.close();
  }

  #nodeSend(url: URL, headers: Record<string, string>, text: string): Promise<RawAnswer> {
    const bytes = new TextEncoder().encode(text);
    return new Promise((resolve, reject) => {
      const req = nodeRequest({
        method: "GET",
        path: url.pathname + url.search,
        headers: { ...headers, "content-length": String(bytes.length), host: url.host },
        ...(this.#socketPath
          ? { socketPath: this.#socketPath }
          : { hostname: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 80) }),
      }, (res) => {
        const chunks: Uint8Array[] = [];
        res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
        res.on("end", () => {
          const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
          let offset = 0;
          for (const chunk of chunks) {
            all.set(chunk, offset);
            offset += chunk.length;
          }
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers["content-type"] ?? ""),
            text: new TextDecoder().decode(all),
          });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(bytes);
    });
  }
}

function withSlash(url: URL): URL {
  return url.pathname.endsWith("/") ? url : new URL(`${url.href}/`);
}
