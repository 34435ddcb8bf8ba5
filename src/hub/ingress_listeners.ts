// Public ingress (PROTOCOL.md section 4): allocated TCP ports, HTTP on port 80 routed by Host
// and TLS on port 443 routed by SNI. Each connection: 1. find the owning agent, 2. check the
// firewall against the client address, 3. dial the agent's tunnel address within a deadline,
// 4. write a PROXY v2 header and what was already read, 5. relay bytes.

import {
  ACCEPT_RETRY_MAX_MS,
  acceptConnections,
  CLIENT_HELLO_READ_BYTES,
  closeQuietly,
  concat,
  encodeProxyV2,
  MAX_REQUEST_HEAD_BYTES,
  type OpeningParser,
  parseClientHello,
  parseIp,
  parseRequestHost,
  plainResponse,
  readOpening,
  relay,
  TLS_ALERT,
  tlsAlert,
  writeAll,
} from "../net/mod.ts";
import { log } from "../log/mod.ts";
import type { AgentRoute, RouteTable } from "./route_table.ts";
import type { IngressCounters } from "./hub_metrics.ts";
import { ACME_CHALLENGE_PREFIX } from "../protocol/mod.ts";

/** Opens a TCP connection to an agent's tunnel address (a seam for tests without a tunnel). */
export type AgentDialer = (
  tunnelIP: string,
  port: number,
  signal: AbortSignal,
) => Promise<Deno.TcpConn>;

export const dialThroughTunnel: AgentDialer = (hostname, port, signal) =>
  Deno.connect({ hostname, port, signal });

export interface IngressOptions {
  /** The current routing table; read once per connection. */
  routes(): RouteTable;
  dial?: AgentDialer;
  /** Address the public listeners bind. @default "::" (dual stack), "0.0.0.0" without IPv6 */
  listenHost?: string;
  /** An offline agent is answered 502 within this. @default 900 */
  dialTimeoutMs?: number;
  /** How long a client may take to send its request head or ClientHello. @default 10_000 */
  headTimeoutMs?: number;
  /** Counts relayed connections and bytes by agent (the hub's metrics). */
  counters?: IngressCounters;
}

type Listener = Deno.TcpListener;

/** The public listeners and what happens on each accepted connection. */
export class Ingress {
  readonly #options:
    & Required<Omit<IngressOptions, "listenHost" | "counters">>
    & { listenHost?: string };
  readonly #portListeners = new Map<number, Listener>();
  readonly #siteListeners: Listener[] = [];
  readonly #connections = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #counters: IngressCounters | undefined;
  #closed = false;

  constructor(options: IngressOptions) {
    this.#counters = options.counters;
    this.#options = {
      dial: options.dial ?? dialThroughTunnel,
      dialTimeoutMs: options.dialTimeoutMs ?? 900,
      headTimeoutMs: options.headTimeoutMs ?? 10_000,
      routes: options.routes,
      listenHost: options.listenHost,
    };
  }

  /** Ports with an open listener. */
  openPorts(): number[] {
    return [...this.#portListeners.keys()].sort((a, b) => a - b);
  }

  /**
   * Binds the public listener of an allocated port.
   *
   * @returns false when the port cannot be bound (in use by something else)
   */
  openPort(port: number): boolean {
    if (this.#closed) return false;
    if (this.#portListeners.has(port)) return true;
    let listener: Listener;
    try {
      listener = this.#listen(port);
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied) {
        log.warn("cannot bind allocated port", { port, error: (error as Error).message });
        return false;
      }
      throw error;
    }
    this.#portListeners.set(port, listener);
    this.#serve(listener, (conn) => this.#handleTcp(conn, port));
    return true;
  }

  /** Closes a released port's listener (open connections on it finish on their own). */
  closePort(port: number): void {
    const listener = this.#portListeners.get(port);
    if (!listener) return;
    this.#portListeners.delete(port);
    closeQuietly(listener);
  }

  /** Listens for HTTP (routed by Host) on `port`. */
  listenHttp(port: number): number {
    return this.#listenSites(port, (conn) => this.#handleHttp(conn));
  }

  /** Listens for TLS (routed by SNI, never decrypted) on `port`. */
  listenHttps(port: number): number {
    return this.#listenSites(port, (conn) => this.#handleTls(conn));
  }

  #listenSites(port: number, handle: (conn: Deno.TcpConn) => Promise<void>): number {
    const listener = this.#listen(port);
    this.#siteListeners.push(listener);
    this.#serve(listener, handle);
    return listener.addr.port;
  }

  /** Binds a public port: dual stack unless a host was given; IPv4 alone where IPv6 is off. */
  #listen(port: number): Listener {
    const hostname = this.#options.listenHost;
    if (hostname !== undefined) return Deno.listen({ hostname, port });
    try {
      return Deno.listen({ hostname: "::", port });
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied) {
        throw error;
      }
      return Deno.listen({ hostname: "0.0.0.0", port });
    }
  }

  /** Closes every listener and connection and waits for the handlers to finish. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const listener of [...this.#portListeners.values(), ...this.#siteListeners]) {
      closeQuietly(listener);
    }
    this.#portListeners.clear();
    for (const conn of this.#connections) closeQuietly(conn);
    while (this.#tasks.size) await Promise.allSettled([...this.#tasks]);
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  #serve(listener: Listener, handle: (conn: Deno.TcpConn) => Promise<void>): void {
    this.#track((async () => {
      // An accept error (out of descriptors) waits and retries; only closing ends the loop.
      const accepted = acceptConnections(listener, {
        onRetry: (error, inMs) => {
          if (inMs === ACCEPT_RETRY_MAX_MS) log.warn("ingress cannot accept; retrying", { error });
        },
      });
      for await (const conn of accepted) {
        this.#connections.add(conn);
        this.#track(
          handle(conn).catch((error) => log.debug("ingress connection failed", { error }))
            .finally(() => {
              this.#connections.delete(conn);
              closeQuietly(conn);
            }),
        );
      }
    })());
  }

  // ---- 1-5 per listener kind

  async #handleTcp(conn: Deno.TcpConn, port: number): Promise<void> {
    const route = this.#options.routes().ports.get(port);
    if (!route?.tunnelIP || !this.#admits(route, conn)) return;
    const upstream = await this.#dialAgent(route, port);
    if (!upstream) return;
    await this.#relayWithHeader(conn, upstream, route, new Uint8Array(0));
  }

  async #handleHttp(conn: Deno.TcpConn): Promise<void> {
    const opening = await this.#readHead(conn, parseRequestHost, MAX_REQUEST_HEAD_BYTES);
    if (opening === null) return;
    const { verdict, bytes } = opening;
    if (verdict.kind === "invalid") {
      const reason = verdict.status === 431 ? "Request Header Fields Too Large" : "Bad Request";
      return await answer(conn, plainResponse(verdict.status, reason, verdict.reason + "\n"));
    }
    if (verdict.kind !== "found") return;
    const route = this.#options.routes().domains.get(verdict.host);
    if (!route?.tunnelIP) {
      return await answer(conn, plainResponse(404, "Not Found", `no site for ${verdict.host}\n`));
    }
    // The ACME server validating HTTP-01 must reach the agent whatever the site's firewall says;
    // the agent answers only the challenge there and re-checks the firewall for anything else.
    const acmeChallenge = verdict.path.startsWith(ACME_CHALLENGE_PREFIX);
    if (!acmeChallenge && !this.#admits(route, conn)) {
      return await answer(conn, plainResponse(403, "Forbidden", "forbidden by firewall\n"));
    }
    const upstream = await this.#dialAgent(route, 80);
    if (!upstream) {
      return await answer(conn, plainResponse(502, "Bad Gateway", "site is offline\n"));
    }
    await this.#relayWithHeader(conn, upstream, route, bytes);
  }

  async #handleTls(conn: Deno.TcpConn): Promise<void> {
    const opening = await this.#readHead(conn, parseClientHello, CLIENT_HELLO_READ_BYTES);
    if (opening === null) return;
    const { verdict, bytes } = opening;
    if (verdict.kind === "invalid" || verdict.kind === "no-sni") {
      return await answer(conn, tlsAlert(TLS_ALERT.unrecognizedName));
    }
    if (verdict.kind !== "found") return;
    const route = this.#options.routes().domains.get(verdict.serverName);
    if (!route?.tunnelIP) return await answer(conn, tlsAlert(TLS_ALERT.unrecognizedName));
    if (!this.#admits(route, conn)) return await answer(conn, tlsAlert(TLS_ALERT.accessDenied));
    const upstream = await this.#dialAgent(route, 443);
    if (!upstream) return await answer(conn, tlsAlert(TLS_ALERT.internalError));
    await this.#relayWithHeader(conn, upstream, route, bytes);
  }

  /** Reads until `parse` stops asking for more; null on EOF, timeout or error. */
  async #readHead<T extends { kind: string }>(
    conn: Deno.TcpConn,
    parse: OpeningParser<T>,
    maxBytes: number,
  ): Promise<{ verdict: T; bytes: Uint8Array } | null> {
    const timer = setTimeout(() => closeQuietly(conn), this.#options.headTimeoutMs);
    try {
      return await readOpening(conn, parse, maxBytes);
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  #admits(route: AgentRoute, conn: Deno.TcpConn): boolean {
    const address = parseIp(unmapped(conn.remoteAddr.hostname));
    return address !== null && route.allows(address);
  }

  async #dialAgent(route: AgentRoute, port: number): Promise<Deno.TcpConn | null> {
    const signal = AbortSignal.timeout(this.#options.dialTimeoutMs);
    try {
      return await this.#options.dial(route.tunnelIP!, port, signal);
    } catch (error) {
      log.debug("agent unreachable", {
        clientId: route.clientId,
        port,
        error: (error as Error).message,
      });
      return null;
    }
  }

  async #relayWithHeader(
    conn: Deno.TcpConn,
    upstream: Deno.TcpConn,
    route: AgentRoute,
    first: Uint8Array,
  ) {
    this.#connections.add(upstream);
    // Relayed segments go out at once: Nagle on top of the endpoints' own would add delay.
    conn.setNoDelay(true);
    upstream.setNoDelay(true);
    try {
      const header = encodeProxyV2(
        { address: unmapped(conn.remoteAddr.hostname), port: conn.remoteAddr.port },
        { address: unmapped(conn.localAddr.hostname), port: conn.localAddr.port },
      );
      const counters = this.#counters;
      const id = route.clientId;
      counters?.connection(id);
      counters?.bytes(id, "in", first.length);
      await relay(conn, upstream, {
        first: concat([header, first]),
        ...(counters && {
          countA: (n: number) => counters.bytes(id, "in", n),
          countB: (n: number) => counters.bytes(id, "out", n),
        }),
      });
    } finally {
      this.#connections.delete(upstream);
    }
  }
}

async function answer(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  try {
    await writeAll(conn, bytes);
    await conn.closeWrite();
  } catch { /* client already gone */ }
}

/** An IPv4 client on the dual-stack socket arrives as ::ffff:a.b.c.d; the agent sees a.b.c.d. */
export function unmapped(address: string): string {
  const match = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return match ? match[1] : address;
}
