// The local API's HTTP/1.1 listener over one Deno.Listener (a Unix socket or a TCP port),
// written to stay alive whatever its clients do:
//
//   - a request head must arrive within 10 s (and a whole request within 30 s), an idle
//     keep-alive connection is closed after 10 s: held-open connections cost nothing for long;
//   - at most `maxConnections` connections at once, and `maxPerSource` from one TCP address;
//     past either cap a new connection is closed at once (its descriptor freed at once);
//   - an accept error (EMFILE, ENFILE, ENOMEM, ...) never ends the accept loop: it backs off
//     (5 ms doubling to 1 s) and tries again, so the API answers again as soon as descriptors
//     are free;
//   - a head over 16 KiB is 431, a malformed one 400; a body over the cap is read no further
//     and handed to the handler as `null` (it answers 413) before the connection closes.
//
// Parsing the head is src/net/http1_head.ts's; this file only frames requests and answers.

import {
  formatResponseHead,
  headerHasToken,
  type HeaderList,
  headerValue,
  HttpWireError,
  indexOfBlankLine,
  latin1,
  MAX_REQUEST_HEAD_BYTES,
  parseRequestHead,
  reasonPhrase,
  writeAll,
} from "../net/mod.ts";
import type { Logger } from "../log/mod.ts";
import { ACCEPT_RETRY_MAX_MS, ACCEPT_RETRY_MIN_MS, acceptConnections } from "../net/mod.ts";
import type { ApiResponse } from "./exchange.ts";

/** How long and how many: every limit of {@linkcode ApiListener}. */
export interface ListenerLimits {
  /** A request head (or the next one on a kept-alive connection) must arrive within this. */
  headTimeoutMs: number;
  /** The whole request (head and body) must arrive within this. */
  requestTimeoutMs: number;
  /** Connections served at once on this listener. */
  maxConnections: number;
  /** Connections at once from one TCP source address (not applied to a Unix socket). */
  maxPerSource: number;
  /** Largest body read; a larger one reaches the handler as `null`. */
  maxBodyBytes: number;
}

export const DEFAULT_LISTENER_LIMITS: ListenerLimits = {
  headTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnections: 128,
  maxPerSource: 32,
  maxBodyBytes: 1024 * 1024,
};

/** One request as read off the wire. */
export interface RawRequest {
  method: string;
  target: string;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string | undefined>;
  /** The whole body, or null when it was larger than the cap (not read). */
  body: Uint8Array | null;
}

export type RawHandler = (request: RawRequest) => Promise<ApiResponse>;

/** The client hung up in the middle of a request: the normal end of a connection, not a fault. */
const GONE = "the connection closed in the middle of the body";

class ClientGone extends Error {
  override name = "ClientGone";
}

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

/** Serves `handler` on `listener` until {@linkcode ApiListener.close}. */
export class ApiListener {
  readonly #listener: Deno.Listener;
  readonly #handler: RawHandler;
  readonly #limits: ListenerLimits;
  readonly #log: Logger;
  readonly #connections = new Set<Deno.Conn>();
  readonly #perSource = new Map<string, number>();
  readonly #loop: Promise<void>;
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(listener: Deno.Listener, handler: RawHandler, limits: ListenerLimits, log: Logger) {
    this.#listener = listener;
    this.#handler = handler;
    this.#limits = limits;
    this.#log = log;
    this.#loop = this.#acceptLoop();
  }

  /** Connections open now (for tests and metrics). */
  get connections(): number {
    return this.#connections.size;
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#wake?.();
      try {
        this.#listener.close();
      } catch { /* closed already */ }
      for (const conn of this.#connections) closeConn(conn);
    }
    await this.#loop;
  }

  async #acceptLoop(): Promise<void> {
    const accepted = acceptConnections(this.#listener, {
      closed: () => this.#closed,
      // Out of descriptors or memory: wait for connections to close, then try again.
      onRetry: (error, inMs) => {
        if (inMs === ACCEPT_RETRY_MIN_MS || inMs === ACCEPT_RETRY_MAX_MS) {
          this.#log.warn("API cannot accept a connection; retrying", {
            error: error instanceof Error ? error.message : String(error),
            inMs,
          });
        }
      },
      wait: (ms) => this.#sleep(ms),
    });
    for await (const conn of accepted) {
      const source = sourceOf(conn);
      const fromSource = this.#perSource.get(source) ?? 0;
      if (
        this.#connections.size >= this.#limits.maxConnections ||
        (source !== "" && fromSource >= this.#limits.maxPerSource)
      ) {
        closeConn(conn);
        continue;
      }
      this.#connections.add(conn);
      this.#perSource.set(source, fromSource + 1);
      this.#serve(conn).catch(() => {}).finally(() => {
        closeConn(conn);
        this.#connections.delete(conn);
        const left = (this.#perSource.get(source) ?? 1) - 1;
        if (left > 0) this.#perSource.set(source, left);
        else this.#perSource.delete(source);
      });
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** One connection: requests in turn until close, a timeout or an error. */
  async #serve(conn: Deno.Conn): Promise<void> {
    const input = new ConnReader(conn);
    for (;;) {
      // The head (and the idle wait before it) is timed; the timer closes the connection.
      const headTimer = setTimeout(() => closeConn(conn), this.#limits.headTimeoutMs);
      const requestTimer = setTimeout(() => closeConn(conn), this.#limits.requestTimeoutMs);
      try {
        let headBytes: Uint8Array | null;
        try {
          headBytes = await input.readHead(MAX_REQUEST_HEAD_BYTES);
        } catch (error) {
          if (error instanceof HttpWireError) {
            await this.#answer(conn, { status: 431, text: "Request header too large\n" }, true);
          }
          return;
        }
        clearTimeout(headTimer);
        if (!headBytes) return;
        let request: RawRequest;
        let keepAlive: boolean;
        try {
          const head = parseRequestHead(latin1(headBytes));
          keepAlive = head.version === "HTTP/1.1"
            ? !headerHasToken(head.headers, "connection", "close")
            : headerHasToken(head.headers, "connection", "keep-alive");
          const body = await this.#readBody(conn, input, head.headers);
          if (body === null) keepAlive = false; // the rest of it is still on the wire
          request = {
            method: head.method,
            target: head.target,
            headers: joinHeaders(head.headers),
            body,
          };
        } catch (error) {
          if (error instanceof ClientGone) {
            this.#log.debug("API client went away", { error: error.message });
          } else if (error instanceof HttpWireError) {
            await this.#answer(
              conn,
              { status: 400, text: `Bad request: ${error.message}\n` },
              true,
            );
          }
          return;
        }
        clearTimeout(requestTimer);
        const answer = await this.#handler(request);
        await this.#answer(conn, answer, !keepAlive);
        if (!keepAlive || this.#closed) return;
      } finally {
        clearTimeout(headTimer);
        clearTimeout(requestTimer);
      }
    }
  }

  /** The body by Content-Length or chunked; null when over the cap. @throws {HttpWireError} */
  async #readBody(
    conn: Deno.Conn,
    input: ConnReader,
    headers: HeaderList,
  ): Promise<Uint8Array | null> {
    const cap = this.#limits.maxBodyBytes;
    const chunked = headerHasToken(headers, "transfer-encoding", "chunked");
    const lengthText = headerValue(headers, "content-length");
    if (chunked && lengthText !== undefined) {
      throw new HttpWireError("both Content-Length and Transfer-Encoding");
    }
    if (!chunked && headerValue(headers, "transfer-encoding") !== undefined) {
      throw new HttpWireError("unsupported Transfer-Encoding");
    }
    let length = 0;
    if (lengthText !== undefined) {
      if (!/^\d{1,15}$/.test(lengthText)) throw new HttpWireError("malformed Content-Length");
      length = Number(lengthText);
      if (length > cap) return null;
    }
    if (!chunked && length === 0) return new Uint8Array(0);
    if (headerHasToken(headers, "expect", "100-continue")) await writeAll(conn, CONTINUE);
    if (!chunked) {
      const body = await input.readExact(length);
      if (!body) throw new ClientGone(GONE);
      return body;
    }
    return await input.readChunked(cap);
  }

  async #answer(conn: Deno.Conn, answer: ApiResponse, close: boolean): Promise<void> {
    let body = "";
    const headers: HeaderList = [];
    if (answer.json !== undefined) {
      body = JSON.stringify(answer.json);
      headers.push(["content-type", "application/json"]);
    } else if (answer.text !== undefined) {
      body = answer.text;
      headers.push(["content-type", "text/plain; charset=utf-8"]);
    }
    for (const [name, value] of Object.entries(answer.headers ?? {})) {
      const at = headers.findIndex(([n]) => n === name);
      if (at >= 0) headers.splice(at, 1);
      headers.push([name, value]);
    }
    const bytes = new TextEncoder().encode(body);
    headers.push(["content-length", String(bytes.length)]);
    headers.push(["date", new Date().toUTCString()]);
    if (close) headers.push(["connection", "close"]);
    const head = formatResponseHead({
      version: "HTTP/1.1",
      status: answer.status,
      reason: reasonPhrase(answer.status),
      headers,
    });
    const out = new Uint8Array(head.length + bytes.length);
    out.set(head);
    out.set(bytes, head.length);
    try {
      await writeAll(conn, out);
    } catch { /* the client left */ }
  }
}

/** Buffered reads off one connection. */
class ConnReader {
  readonly #conn: Deno.Conn;
  #buffer = new Uint8Array(4096);
  #start = 0;
  #end = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Reads more bytes into the buffer; false at the end of the stream (or a closed conn). */
  async #fill(): Promise<boolean> {
    if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buffer.length) {
      const grown = new Uint8Array(
        Math.max(this.#buffer.length, (this.#end - this.#start) * 2 + 4096),
      );
      grown.set(this.#buffer.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#start = 0;
      this.#buffer = grown;
    }
    let n: number | null;
    try {
      n = await this.#conn.read(this.#buffer.subarray(this.#end));
    } catch {
      return false;
    }
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /**
   * The next head without its blank line; null at a clean end of stream.
   *
   * @throws {HttpWireError} when it grows past `max` bytes
   */
  async readHead(max: number): Promise<Uint8Array | null> {
    let scanned = this.#start;
    for (;;) {
      const at = indexOfBlankLine(this.#buffer, Math.max(this.#start, scanned - 3), this.#end);
      if (at >= 0) {
        const head = this.#buffer.slice(this.#start, at);
        this.#start = at + 4;
        return head;
      }
      scanned = this.#end;
      if (this.#end - this.#start > max) throw new HttpWireError("request head too large");
      if (!(await this.#fill())) return null;
    }
  }

  /** Exactly `n` bytes; null when the stream ends first. */
  async readExact(n: number): Promise<Uint8Array | null> {
    while (this.#end - this.#start < n) {
      if (!(await this.#fill())) return null;
    }
    const out = this.#buffer.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** One CRLF-terminated line without its CRLF. @throws {HttpWireError} */
  async #readLine(max: number): Promise<string> {
    for (;;) {
      for (let i = this.#start; i + 1 < this.#end; i++) {
        if (this.#buffer[i] === 13 && this.#buffer[i + 1] === 10) {
          const line = latin1(this.#buffer.subarray(this.#start, i));
          this.#start = i + 2;
          return line;
        }
      }
      if (this.#end - this.#start > max) throw new HttpWireError("chunk line too long");
      if (!(await this.#fill())) throw new ClientGone(GONE);
    }
  }

  /** A chunked body, decoded; null once it passes `cap`. @throws {HttpWireError} */
  async readChunked(cap: number): Promise<Uint8Array | null> {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const line = await this.#readLine(1024);
      const match = /^([0-9a-fA-F]{1,8})(?:;.*)?$/.exec(line);
      if (!match) throw new HttpWireError("malformed chunk size");
      const length = parseInt(match[1], 16);
      if (length === 0) break;
      size += length;
      if (size > cap) return null;
      const data = await this.readExact(length);
      if (!data) throw new ClientGone(GONE);
      chunks.push(data);
      if ((await this.#readLine(2)) !== "") throw new HttpWireError("malformed chunk end");
    }
    // Trailers, up to the blank line.
    for (let count = 0; (await this.#readLine(8192)) !== ""; count++) {
      if (count > 64) throw new HttpWireError("too many trailers");
    }
    const body = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      body.set(chunk, offset);
      offset += chunk.length;
    }
    return body;
  }
}

function joinHeaders(headers: HeaderList): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    out[key] = out[key] === undefined ? value : `${out[key]}, ${value}`;
  }
  return out;
}

/** The TCP source address; "" for a Unix socket (no per-source cap there). */
function sourceOf(conn: Deno.Conn): string {
  const addr = conn.remoteAddr;
  return addr.transport === "tcp" ? addr.hostname : "";
}

function closeConn(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}
