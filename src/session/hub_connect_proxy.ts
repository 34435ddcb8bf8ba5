// A loopback HTTP CONNECT proxy with one destination: the hub. Deno's fetch and WebSocket take
// no resolver, but they do take an HTTP proxy, and through a CONNECT tunnel TLS stays end to
// end with the hub's name (SNI, certificate checks and the client certificate are the client's
// as without a proxy). The proxy dials the address the session resolved through `dns`; it
// accepts nothing but `CONNECT host:port` naming exactly the hub, listens on 127.0.0.1 only,
// and bounds what a local process could make it do: the head's size, the time to send it, the
// time to dial, how many tunnels at once.

import {
  acceptConnections,
  closeQuietly,
  indexOfBlankLine,
  joinHostPort,
  latin1,
  parseRequestHead,
  plainResponse,
  readOpening,
  relay,
  writeAll,
} from "../net/mod.ts";

/** A CONNECT head larger than this is refused (Deno sends about 100 bytes). */
export const CONNECT_HEAD_MAX_BYTES = 4096;
/** Time a client has to send its whole head. */
export const CONNECT_HEAD_TIMEOUT_MS = 5_000;
/** Time to open the TCP connection to the hub. */
export const CONNECT_DIAL_TIMEOUT_MS = 10_000;
/** Tunnels open at once; a session needs two (a login and its WebSocket). */
export const CONNECT_MAX_TUNNELS = 8;

export type ConnectVerdict =
  | { kind: "need-more" }
  | { kind: "connect"; headBytes: number }
  | { kind: "refused"; status: 400 | 403 | 405 | 431; reason: string };

/**
 * Judges the bytes a proxy client sent so far: a complete head that is `CONNECT target`
 * (the authority compared without case) passes; anything else is refused with the status
 * to answer. Pure.
 *
 * @param target the one authority allowed, `host:port` (IPv6 in brackets)
 */
export function judgeConnectHead(data: Uint8Array, target: string): ConnectVerdict {
  const end = indexOfBlankLine(data, 0, data.length);
  if (end < 0) {
    return data.length >= CONNECT_HEAD_MAX_BYTES
      ? { kind: "refused", status: 431, reason: "request head too large" }
      : { kind: "need-more" };
  }
  let method: string, authority: string;
  try {
    ({ method, target: authority } = parseRequestHead(latin1(data.subarray(0, end))));
  } catch {
    return { kind: "refused", status: 400, reason: "malformed request head" };
  }
  if (method !== "CONNECT") {
    return { kind: "refused", status: 405, reason: "only CONNECT to the hub" };
  }
  if (authority.toLowerCase() !== target.toLowerCase()) {
    return { kind: "refused", status: 403, reason: "only the hub may be reached" };
  }
  return { kind: "connect", headBytes: end + 4 };
}

export interface HubConnectProxyOptions {
  /** The authority clients must name: the hub's `host:port` from its endpoint URL. */
  target: string;
  /** Where to dial: the address `dns` gave for the hub's name. */
  address: string;
  port: number;
}

/** The proxy; `url` goes into `Deno.createHttpClient({proxy})`, `close` ends every tunnel. */
export class HubConnectProxy {
  readonly #listener: Deno.TcpListener;
  readonly #options: HubConnectProxyOptions;
  readonly #open = new Set<Deno.TcpConn>();
  #closed = false;

  private constructor(listener: Deno.TcpListener, options: HubConnectProxyOptions) {
    this.#listener = listener;
    this.#options = options;
  }

  /** Listens on an ephemeral port of 127.0.0.1 and serves in the background. */
  static start(options: HubConnectProxyOptions): HubConnectProxy {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const proxy = new HubConnectProxy(listener, options);
    proxy.#accept();
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#listener.addr.port}`;
  }

  async #accept(): Promise<void> {
    // The one accept loop: an accept error (EMFILE) waits and retries; only close() ends it.
    for await (const conn of acceptConnections(this.#listener, { closed: () => this.#closed })) {
      if (this.#open.size >= CONNECT_MAX_TUNNELS) {
        closeQuietly(conn);
        continue;
      }
      this.#open.add(conn);
      this.#serve(conn).finally(() => {
        this.#open.delete(conn);
        closeQuietly(conn);
      });
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const { target, address, port } = this.#options;
    // A client that sends its head slowly (or never) is cut off.
    const headTimer = setTimeout(() => closeQuietly(conn), CONNECT_HEAD_TIMEOUT_MS);
    let opening;
    try {
      opening = await readOpening(
        conn,
        (data) => judgeConnectHead(data, target),
        CONNECT_HEAD_MAX_BYTES,
      );
    } catch {
      return;
    } finally {
      clearTimeout(headTimer);
    }
    if (!opening) return;
    const { verdict, bytes } = opening;
    if (verdict.kind === "refused") {
      await writeAll(conn, plainResponse(verdict.status, "Refused", `${verdict.reason}\n`))
        .catch(() => {});
      return;
    }
    if (verdict.kind !== "connect") return;
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({
        hostname: address,
        port,
        signal: AbortSignal.timeout(CONNECT_DIAL_TIMEOUT_MS),
      });
    } catch (error) {
      const why = `cannot reach ${joinHostPort(address, port)}: ${(error as Error).message}`;
      await writeAll(conn, plainResponse(502, "Bad Gateway", `${why}\n`)).catch(() => {});
      return;
    }
    if (this.#closed) return closeQuietly(upstream);
    this.#open.add(upstream);
    try {
      await writeAll(conn, new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n"));
      // Bytes sent after the head already belong to the tunnel (a client may not wait).
      await relay(conn, upstream, { first: bytes.subarray(verdict.headBytes) });
    } catch {
      // The client went away before the tunnel opened.
    } finally {
      this.#open.delete(upstream);
      closeQuietly(upstream);
    }
  }

  /** Stops listening and closes every tunnel (both ends). */
  close(): void {
    this.#closed = true;
    closeQuietly(this.#listener);
    for (const conn of this.#open) closeQuietly(conn);
    this.#open.clear();
  }
}
