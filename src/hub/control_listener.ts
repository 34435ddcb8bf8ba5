// The control port's listener (`--listen`): its own accept loops so that no connection and no
// accept error can take the hub down. 1. accept, backing off and retrying when the process is
// out of descriptors; several sockets share the port (SO_REUSEPORT) so that a storm of
// connections finds several accept queues and several loops draining them, instead of one
// 511-deep queue whose overflow costs each dropped client a 1, 3, 7, 15... s SYN retry; 2. refuse a source address that already has too many connections still
// in their opening (429 at once, nothing read); 3. read the request head and body within
// the head timeout (10 s, as on ports 80/443), or drop the connection; 4. hand a WebSocket
// upgrade to the control plane with the handshake answered, anything else as a Request whose
// Response is written back (one request per connection).
//
// Behind the mutual-TLS front (`--client-ca`, mutual_tls_front.ts) the listener is a Unix socket
// in a directory only the hub's user can enter, and each connection opens with a PROXY v2 header
// naming the client. The front is the only writer there, so the header is trusted, and the
// per-address limits and the login gate see real client addresses, not the front's loopback.

import {
  ACCEPT_RETRY_MAX_MS,
  acceptConnections,
  closeQuietly,
  decodeProxyV2,
  encodeLatin1,
  headerHasToken,
  headerValue,
  HttpWireError,
  indexOfBlankLine,
  latin1,
  MAX_REQUEST_HEAD_BYTES,
  parseRequestHead,
  PROXY_V2_MAX_BYTES,
  readOpening,
  reasonPhrase,
  type RequestHead,
  writeAll,
} from "../net/mod.ts";
import { log } from "../log/mod.ts";
import { acceptKey, ServerWebSocket } from "./websocket_server.ts";
import { addressKey } from "./login_gate.ts";
import { controlConnectionBudget, raiseDescriptorLimit } from "./descriptor_limit.ts";

/** What the control plane decides for a WebSocket request: a refusal, or a socket taker. */
export type UpgradeDecision = Response | ((socket: ServerWebSocket) => void);

export interface ControlListenerOptions {
  hostname: string;
  port: number;
  /**
   * Listen on this Unix socket instead of `hostname:port`, behind the mutual-TLS front: every
   * connection starts with a PROXY v2 header whose source is the client's address.
   */
  frontedPath?: string;
  tls?: { cert: string; key: string };
  /** Paths answered with a WebSocket upgrade. */
  webSocketPath: string;
  /** Plain requests (the login endpoint, and 404s). */
  onRequest(request: Request, remoteAddress: string): Promise<Response>;
  onUpgrade(url: URL, remoteAddress: string): UpgradeDecision;
  maxMessageBytes: number;
  /** @default 10_000 */
  headTimeoutMs?: number;
  /** Connections of one address still in their opening. @default 256 */
  maxOpeningPerAddress?: number;
  /**
   * Connections held at once (openings and sessions); past it a new one is closed at once.
   * @default from the process's descriptor limit (descriptor_limit.ts)
   */
  maxConnections?: number;
  /** Largest request body read. @default 8 KiB */
  maxBodyBytes?: number;
}

/** Sockets sharing the control port (where the platform and Deno allow it). */
const ACCEPT_SOCKETS = 4;

export class ControlListener {
  readonly #listeners: Deno.Listener[];
  readonly #options: ControlListenerOptions;
  readonly #connections = new Set<Deno.Conn>();
  /** Connections in their opening (before an answer or an upgrade), per address key. */
  readonly #opening = new Map<string, number>();
  readonly #loop: Promise<void>;
  readonly #maxConnections: number;
  #closed = false;
  #acceptErrors = 0;
  #refusedFull = 0;

  constructor(options: ControlListenerOptions) {
    this.#options = options;
    this.#maxConnections = options.maxConnections ??
      controlConnectionBudget(raiseDescriptorLimit());
    this.#listeners = openSockets(options);
    this.#loop = Promise.all(this.#listeners.map((l) => this.#acceptLoop(l))).then(() => {});
  }

  get port(): number {
    return (this.#listeners[0].addr as Deno.NetAddr).port;
  }

  /** Accept errors survived so far (descriptor exhaustion among them). */
  get acceptErrors(): number {
    return this.#acceptErrors;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const listener of this.#listeners) closeQuietly(listener);
    for (const conn of this.#connections) closeQuietly(conn);
    await this.#loop;
  }

  async #acceptLoop(listener: Deno.Listener): Promise<void> {
    const accepted = acceptConnections(listener, {
      closed: () => this.#closed,
      // 1. Out of descriptors (EMFILE/ENFILE) or a transient error: wait, then accept again.
      // Openings time out, so descriptors come back by themselves.
      onRetry: (error, inMs) => {
        this.#acceptErrors++;
        if (inMs === ACCEPT_RETRY_MAX_MS || this.#acceptErrors === 1) {
          log.warn("control port cannot accept; retrying", {
            error: (error as Error).message,
            inMs,
          });
        }
      },
    });
    for await (const conn of accepted) this.#serve(conn);
  }

  #serve(conn: Deno.Conn): void {
    // 2a. Full: the descriptor goes back at once, before the process runs out.
    if (this.#connections.size >= this.#maxConnections) {
      if (this.#refusedFull++ % 1000 === 0) {
        log.warn("control port full: closing new connections", { held: this.#connections.size });
      }
      closeQuietly(conn);
      return;
    }
    if (!this.#options.frontedPath) {
      this.#admit(conn, (conn.remoteAddr as Deno.NetAddr).hostname, new Uint8Array(0));
      return;
    }
    // Behind the front: the client's address comes first, within the head timeout.
    this.#connections.add(conn);
    const timer = setTimeout(() => closeQuietly(conn), this.#options.headTimeoutMs ?? 10_000);
    readOpening(conn, decodeProxyV2, PROXY_V2_MAX_BYTES).then((read) => {
      this.#connections.delete(conn);
      clearTimeout(timer);
      if (!read || read.verdict.kind !== "header" || !read.verdict.header.source) {
        return closeQuietly(conn);
      }
      this.#admit(conn, read.verdict.header.source.address, read.bytes.slice(read.verdict.length));
    }, () => {
      this.#connections.delete(conn);
      clearTimeout(timer);
      closeQuietly(conn);
    });
  }

  /** Serves `conn` from `remote`, whose first bytes (`initial`) were already read. */
  #admit(conn: Deno.Conn, remote: string, initial: Uint8Array): void {
    const key = addressKey(remote);
    const opening = this.#opening.get(key) ?? 0;
    // 2. Too many openings from this address: answer without reading and close.
    if (opening >= (this.#options.maxOpeningPerAddress ?? 256)) {
      const refusal = new Response("too many connections from your address\n", {
        status: 429,
        headers: { "retry-after": "1" },
      });
      writeResponse(conn, refusal).catch(() => closeQuietly(conn));
      return;
    }
    this.#opening.set(key, opening + 1);
    this.#connections.add(conn);
    let opened = true;
    const endOpening = () => {
      if (!opened) return;
      opened = false;
      const left = (this.#opening.get(key) ?? 1) - 1;
      if (left > 0) this.#opening.set(key, left);
      else this.#opening.delete(key);
    };
    // 3. The whole opening within the head timeout.
    const timer = setTimeout(() => closeQuietly(conn), this.#options.headTimeoutMs ?? 10_000);
    this.#open(conn, remote, initial, () => {
      clearTimeout(timer);
      endOpening();
    }).catch((error) => {
      if (!(error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted)) {
        log.debug("control connection failed", { error: (error as Error).message });
      }
      closeQuietly(conn);
    }).finally(() => {
      clearTimeout(timer);
      endOpening();
      this.#connections.delete(conn);
    });
  }

  /** Reads one request and answers it; `opened` marks the end of the opening. */
  async #open(
    conn: Deno.Conn,
    remote: string,
    initial: Uint8Array,
    opened: () => void,
  ): Promise<void> {
    // A head over 16 KiB or a peer that hangs up is dropped without an answer.
    const read = await readHead(conn, initial);
    if (read === null) return;
    let head: RequestHead;
    let url: URL;
    try {
      head = parseRequestHead(read.head);
      url = new URL(head.target, "http://control");
    } catch (error) {
      if (!(error instanceof HttpWireError || error instanceof TypeError)) throw error;
      return await answerAndClose(conn, 400, "malformed request");
    }
    // 4a. A WebSocket: the control plane checks the token, then the socket takes over.
    if (url.pathname === this.#options.webSocketPath) {
      const decision = this.#options.onUpgrade(url, remote);
      if (decision instanceof Response) return await writeResponse(conn, decision);
      const key = headerValue(head.headers, "sec-websocket-key");
      if (
        head.method !== "GET" || !headerHasToken(head.headers, "upgrade", "websocket") ||
        !headerHasToken(head.headers, "connection", "upgrade") || !key ||
        headerValue(head.headers, "sec-websocket-version") !== "13"
      ) {
        return await answerAndClose(conn, 426, "expected a WebSocket upgrade");
      }
      await writeAll(
        conn,
        encodeLatin1(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
        ),
      );
      opened();
      const socket = new ServerWebSocket(conn, read.rest, this.#options.maxMessageBytes);
      decision(socket);
      await socket.start();
      return;
    }
    // 4b. A plain request: a fixed-length body at most, no chunked uploads.
    if (headerValue(head.headers, "transfer-encoding") !== undefined) {
      return await answerAndClose(conn, 411, "send the body with Content-Length");
    }
    const lengthText = headerValue(head.headers, "content-length") ?? "0";
    if (!/^\d{1,9}$/.test(lengthText)) return await answerAndClose(conn, 400, "bad Content-Length");
    const length = Number(lengthText);
    const maxBody = this.#options.maxBodyBytes ?? 8 * 1024;
    if (length > maxBody) {
      const answer = Response.json({
        success: false,
        error: true,
        message: "request body too large",
        status: 413,
        data: null,
      }, { status: 413 });
      return await writeResponse(conn, answer);
    }
    const body = await readBody(conn, read.rest, length);
    if (body === null) return;
    const headers = new Headers();
    try {
      for (const [name, value] of head.headers) headers.append(name, value);
    } catch {
      return await answerAndClose(conn, 400, "malformed header");
    }
    const hasBody = head.method !== "GET" && head.method !== "HEAD";
    const request = new Request(url, {
      method: head.method,
      headers,
      body: hasBody ? body as BodyInit : undefined,
    });
    const response = await this.#options.onRequest(request, remote);
    opened();
    await writeResponse(conn, response);
  }
}

/**
 * The control port's sockets: several sharing the port with SO_REUSEPORT when Deno allows it
 * (`--unstable-net`, which burrow runs with), else one. TLS is on each.
 */
function openSockets(options: ControlListenerOptions): Deno.Listener[] {
  if (options.frontedPath) return [Deno.listen({ transport: "unix", path: options.frontedPath })];
  const open = (port: number, reusePort: boolean): Deno.Listener =>
    options.tls
      ? Deno.listenTls({ hostname: options.hostname, port, reusePort, ...options.tls })
      : Deno.listen({ hostname: options.hostname, port, reusePort });
  let first: Deno.Listener;
  try {
    first = open(options.port, true);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) throw error;
    return [open(options.port, false)];
  }
  const sockets = [first];
  const port = (first.addr as Deno.NetAddr).port;
  try {
    while (sockets.length < ACCEPT_SOCKETS) sockets.push(open(port, true));
  } catch (error) {
    log.debug("control port: fewer shared sockets", { error: (error as Error).message });
  }
  return sockets;
}

/** The request head (up to the blank line) and the bytes read past it; null at EOF or cap. */
async function readHead(
  conn: Deno.Conn,
  initial: Uint8Array,
): Promise<{ head: string; rest: Uint8Array } | null> {
  const read = await readOpening(conn, findHeadEnd, MAX_REQUEST_HEAD_BYTES, initial);
  if (!read || read.verdict.kind !== "head") return null;
  const { end } = read.verdict;
  return { head: latin1(read.bytes.subarray(0, end)), rest: read.bytes.slice(end + 4) };
}

function findHeadEnd(data: Uint8Array): { kind: "need-more" } | { kind: "head"; end: number } {
  const end = indexOfBlankLine(data, 0, data.length);
  return end < 0 ? { kind: "need-more" } : { kind: "head", end };
}

async function readBody(conn: Deno.Conn, rest: Uint8Array, length: number) {
  const body = new Uint8Array(length);
  const have = Math.min(length, rest.length);
  body.set(rest.subarray(0, have));
  let filled = have;
  while (filled < length) {
    const n = await conn.read(body.subarray(filled));
    if (n === null) return null;
    filled += n;
  }
  return body;
}

async function writeResponse(conn: Deno.Conn, response: Response): Promise<void> {
  const body = new Uint8Array(await response.arrayBuffer());
  const reason = response.statusText || reasonPhrase(response.status);
  let head = `HTTP/1.1 ${response.status} ${reason}\r\n`;
  for (const [name, value] of response.headers) {
    if (name === "content-length" || name === "connection") continue;
    head += `${name}: ${value}\r\n`;
  }
  head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(encodeLatin1(head));
  bytes.set(body, head.length);
  await writeAll(conn, bytes);
  closeQuietly(conn);
}

async function answerAndClose(conn: Deno.Conn, status: number, message: string): Promise<void> {
  await writeResponse(conn, new Response(message + "\n", { status }));
}
