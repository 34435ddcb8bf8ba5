// The agent's public side: listeners on its tunnel address for :80, :443 and every allocated
// port, where the hub relays clients behind a PROXY v2 header. Only the hub may connect here:
// a connection from any other address (a local process, a neighbour routing the tunnel address
// through this host) is closed before a byte is read, so nobody else can name a client address
// in a PROXY header and walk past a firewall. Each connection is checked against the current
// rules when it arrives, so rule changes never touch open connections.

import { log } from "../log/mod.ts";
import {
  ACCEPT_RETRY_MAX_MS,
  acceptConnections,
  CLIENT_HELLO_READ_BYTES,
  closeQuietly,
  decodeProxyV2,
  parseClientHello,
  parseIp,
  peerGoneText,
  PROXY_V2_MAX_BYTES,
  readOpening,
  relay,
  TLS_ALERT,
  tlsAlert,
  writeAll,
} from "../net/mod.ts";
import type { FirewallCheck } from "../protocol/mod.ts";
import { type ClientAddress, serveHttpConnection, type SiteLookup } from "./site_routing.ts";
import { isConnectionError, noDelay } from "./site_socket.ts";

/** How long a relayed connection may take to send its PROXY header (and ClientHello). */
export const HEADER_TIMEOUT_MS = 10_000;

/** Where a connection on :443 goes. */
export type TlsRoute =
  | { kind: "passthrough"; hostname: string; port: number; allows: FirewallCheck }
  | { kind: "terminate"; terminatorPort: number; allows: FirewallCheck };

/** Where a connection on an allocated port goes. */
export interface PortRoute {
  hostname: string;
  port: number;
  allows: FirewallCheck;
}

/** The live rules, asked once per connection. */
export interface IngressRoutes extends SiteLookup {
  tlsRoute(domain: string): TlsRoute | undefined;
  portRoute(port: number): PortRoute | undefined;
  /** Tells the TLS terminator who the client behind the next connection from `localPort` is. */
  expectTerminated(localPort: number, client: ClientAddress): () => void;
}

export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;

/**
 * Listens on one address (the tunnel IP) for :80, :443 and a changing set of allocated ports.
 */
export class AgentIngress {
  #address: string | null = null;
  #local: Uint8Array | null = null;
  #hub: Uint8Array | null = null;
  readonly #listeners = new Map<number, { listener: Deno.TcpListener; loop: Promise<void> }>();
  readonly #conns = new Set<Deno.Conn>();
  #wanted = new Set<number>();
  // Reconciliations run one at a time: a port closed and reopened must wait for the old
  // listener to be gone (Deno frees it only when its pending accept ends).
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    readonly routes: IngressRoutes,
    readonly ports = { http: HTTP_PORT, https: HTTPS_PORT },
  ) {}

  /** The address listened on, or null before {@linkcode listenOn}. */
  get address(): string | null {
    return this.#address;
  }

  /** Local ports currently listened on (for tests and health). */
  get listening(): number[] {
    return [...this.#listeners.keys()];
  }

  /**
   * Moves every listener to `address` (always rebinding: after a tunnel restart the address
   * was removed and added again). Connections accepted earlier stay open.
   *
   * @param hub the hub's tunnel address: the only remote address accepted from now on (none
   *   at all when it is unknown)
   */
  listenOn(address: string, hub: string | undefined): Promise<void> {
    return this.#serialize(async () => {
      await this.#closeListeners(() => true);
      this.#address = address;
      this.#local = parseIp(address);
      this.#hub = hub === undefined ? null : parseIp(hub);
      if (this.#hub === null) {
        log.warn("the hub's tunnel address is unknown: relayed connections are refused", {
          address,
        });
      }
      this.#bindWanted();
    });
  }

  /** Whether `conn` is the hub's, arriving on the tunnel address. */
  #fromHub(conn: Deno.Conn): boolean {
    const remote = parseIp((conn.remoteAddr as Deno.NetAddr).hostname);
    const local = parseIp((conn.localAddr as Deno.NetAddr).hostname);
    return remote !== null && local !== null && this.#hub !== null && this.#local !== null &&
      sameAddress(remote, this.#hub) && sameAddress(local, this.#local);
  }

  /** The allocated ports with a forward; listeners open and close to match. */
  setForwardPorts(ports: Iterable<number>): Promise<void> {
    const wanted = new Set(ports);
    return this.#serialize(async () => {
      this.#wanted = wanted;
      const all = this.#allWanted();
      await this.#closeListeners((port) => !all.has(port));
      this.#bindWanted();
    });
  }

  #serialize(step: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(() => this.#closed ? undefined : step());
    this.#queue = run.catch((error) =>
      log.error("ingress update failed", { error: String(error) })
    );
    return this.#queue;
  }

  #allWanted(): Set<number> {
    return new Set([this.ports.http, this.ports.https, ...this.#wanted]);
  }

  async #closeListeners(which: (port: number) => boolean): Promise<void> {
    const loops: Promise<void>[] = [];
    for (const [port, entry] of this.#listeners) {
      if (!which(port)) continue;
      closeQuietly(entry.listener);
      loops.push(entry.loop);
      this.#listeners.delete(port);
    }
    await Promise.all(loops);
  }

  #bindWanted(): void {
    if (this.#address === null || this.#closed) return;
    for (const port of this.#allWanted()) {
      if (this.#listeners.has(port)) continue;
      let listener: Deno.TcpListener;
      try {
        listener = Deno.listen({ hostname: this.#address, port });
      } catch (error) {
        log.warn("cannot listen for relayed traffic", {
          address: this.#address,
          port,
          error: String(error),
        });
        continue;
      }
      this.#listeners.set(port, { listener, loop: this.#acceptLoop(listener, port) });
    }
  }

  async #acceptLoop(listener: Deno.TcpListener, port: number): Promise<void> {
    try {
      const accepted = acceptConnections(listener, {
        onRetry: (error, inMs) => {
          if (inMs === ACCEPT_RETRY_MAX_MS) {
            log.warn("tunnel listener cannot accept; retrying", { port, error: String(error) });
          }
        },
      });
      for await (const conn of accepted) {
        if (!this.#fromHub(conn)) {
          // Not the hub: whatever it would send (a PROXY header naming an allowed client
          // above all) is not to be believed. Closed unread.
          const remote = conn.remoteAddr as Deno.NetAddr;
          log.debug("refused a connection that did not come from the hub", {
            port,
            remote: remote.hostname,
          });
          closeQuietly(conn);
          continue;
        }
        noDelay(conn);
        this.#conns.add(conn);
        this.#handle(conn, port).catch((error) => {
          if (isConnectionError(error)) {
            log.debug("relayed connection ended", { port, error: peerGoneText(error) });
          } else {
            log.error("relayed connection failed", { port, error: String(error) });
          }
        }).finally(() => {
          this.#conns.delete(conn);
          closeQuietly(conn);
        });
      }
    } catch (error) {
      if (
        !(error instanceof Deno.errors.BadResource) && !(error instanceof Deno.errors.Interrupted)
      ) {
        log.error("listener failed", { port, error: String(error) });
      }
    }
  }

  async #handle(conn: Deno.Conn, port: number): Promise<void> {
    const timer = setTimeout(() => closeQuietly(conn), HEADER_TIMEOUT_MS);
    let client: ClientAddress;
    let rest: Uint8Array;
    try {
      const header = await readProxyHeader(conn);
      if (!header) return;
      client = header.client ?? remoteOf(conn);
      rest = header.rest;
      if (port === this.ports.https) {
        const hello = await readOpening(conn, parseClientHello, CLIENT_HELLO_READ_BYTES, rest);
        if (!hello) return;
        if (hello.verdict.kind !== "found") {
          return await refuseTls(conn, TLS_ALERT.unrecognizedName);
        }
        rest = hello.bytes;
        clearTimeout(timer);
        return await this.#tls(conn, client, hello.verdict.serverName, rest);
      }
    } finally {
      clearTimeout(timer);
    }
    if (port === this.ports.http) {
      return await serveHttpConnection(conn, rest, client, "http", this.routes);
    }
    const route = this.routes.portRoute(port);
    if (!route || !allowed(route.allows, client)) return;
    const upstream = noDelay(await Deno.connect({ hostname: route.hostname, port: route.port }));
    await relay(conn, upstream, { first: rest });
  }

  async #tls(conn: Deno.Conn, client: ClientAddress, serverName: string, hello: Uint8Array) {
    // A name with no TLS here (unknown, not `secure`, or still waiting for its certificate)
    // is told so, as the hub does for names it does not route, instead of a bare close.
    const route = this.routes.tlsRoute(serverName.toLowerCase());
    if (!route) return await refuseTls(conn, TLS_ALERT.unrecognizedName);
    if (!allowed(route.allows, client)) return await refuseTls(conn, TLS_ALERT.accessDenied);
    if (route.kind === "passthrough") {
      const upstream = noDelay(await Deno.connect({ hostname: route.hostname, port: route.port }));
      return await relay(conn, upstream, { first: hello });
    }
    const terminator = noDelay(
      await Deno.connect({ hostname: "127.0.0.1", port: route.terminatorPort }),
    );
    const forget = this.routes.expectTerminated(terminator.localAddr.port, client);
    try {
      await relay(conn, terminator, { first: hello });
    } finally {
      forget();
    }
  }

  /** Closes every listener and every relayed connection; resolves once the ports are free. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    for (const conn of this.#conns) closeQuietly(conn);
    this.#conns.clear();
    await this.#closeListeners(() => true);
  }
}

function remoteOf(conn: Deno.Conn): ClientAddress {
  const addr = conn.remoteAddr as Deno.NetAddr;
  return { address: addr.hostname, port: addr.port };
}

/** Sends a fatal TLS alert and ends the connection's sending side. */
async function refuseTls(conn: Deno.Conn, description: number): Promise<void> {
  await writeAll(conn, tlsAlert(description));
  await conn.closeWrite();
}

function sameAddress(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function allowed(check: FirewallCheck, client: ClientAddress): boolean {
  const bytes = parseIp(client.address);
  return bytes !== null && check(bytes);
}

/**
 * Reads the PROXY v2 header at the start of a relayed connection.
 *
 * @returns the client (null for a LOCAL header) and the bytes read past the header, or null
 *   when the stream ended or did not start with a valid header
 */
export async function readProxyHeader(
  conn: { read(p: Uint8Array): Promise<number | null> },
): Promise<{ client: ClientAddress | null; rest: Uint8Array } | null> {
  const opening = await readOpening(conn, decodeProxyV2, PROXY_V2_MAX_BYTES + 4096);
  if (opening?.verdict.kind !== "header") return null;
  const { verdict: { header, length }, bytes } = opening;
  return {
    client: header.command === "proxy" ? header.source : null,
    rest: bytes.slice(length),
  };
}
