// TLS termination for secure sites. Deno's TLS listener takes one certificate, so each site with
// a certificate gets its own listener on loopback; the ingress relays the raw stream there and
// announces the client first (by the relaying socket's local port), so the decrypted requests
// still carry the PROXY header's address. A new certificate swaps the listener; connections on
// the old one finish untouched.

import { log } from "../log/mod.ts";
import { acceptConnections, closeQuietly, peerGoneText } from "../net/mod.ts";
import {
  type ClientAddress,
  REQUEST_HEAD_TIMEOUT_MS,
  serveHttpConnection,
  type SiteLookup,
} from "./site_routing.ts";
import { isConnectionError, noDelay } from "./site_socket.ts";

interface Terminator {
  domain: string;
  listener: Deno.TlsListener;
  port: number;
  cert: string;
  key: string;
}

/** The per-domain TLS listeners and the client addresses waiting for them. */
export class TlsTerminators {
  readonly #byDomain = new Map<string, Terminator>();
  readonly #expected = new Map<number, ClientAddress>();
  readonly #conns = new Set<Deno.Conn>();
  readonly #loops = new Set<Promise<void>>();
  #closed = false;

  constructor(readonly sites: SiteLookup) {}

  /** The loopback port terminating TLS for `domain`. */
  port(domain: string): number | undefined {
    return this.#byDomain.get(domain)?.port;
  }

  /**
   * Sets the certificate of `domain` (null removes its listener). The same certificate again
   * is a no-op.
   *
   * @throws {Error} when Deno refuses the certificate or key (a message without key material)
   */
  set(domain: string, pair: { cert: string; key: string } | null): void {
    const current = this.#byDomain.get(domain);
    if (pair && current && current.cert === pair.cert && current.key === pair.key) return;
    if (this.#closed) return;
    let next: Terminator | undefined;
    if (pair) {
      let listener: Deno.TlsListener;
      try {
        listener = Deno.listenTls({
          hostname: "127.0.0.1",
          port: 0,
          cert: pair.cert,
          key: pair.key,
          alpnProtocols: ["http/1.1"],
        });
      } catch {
        throw new TypeError(`Cannot use the certificate of ${domain}: TLS refused it`);
      }
      next = { domain, listener, port: (listener.addr as Deno.NetAddr).port, ...pair };
      this.#byDomain.set(domain, next);
      const loop = this.#accept(next);
      this.#loops.add(loop);
      loop.finally(() => this.#loops.delete(loop));
    } else {
      this.#byDomain.delete(domain);
    }
    if (current) closeQuietly(current.listener);
  }

  /** Keeps only the listed domains. */
  retain(domains: Set<string>): void {
    for (const domain of [...this.#byDomain.keys()]) {
      if (!domains.has(domain)) this.set(domain, null);
    }
  }

  /**
   * Announces the client behind the next connection from `127.0.0.1:localPort` (the ingress's
   * own connection). It is taken once, and only by a connection from exactly that address:
   * another local process (from 127.0.0.2, say, with the same port) is served as itself.
   */
  expect(localPort: number, client: ClientAddress): () => void {
    this.#expected.set(localPort, client);
    return () => {
      if (this.#expected.get(localPort) === client) this.#expected.delete(localPort);
    };
  }

  /** The announced client of a connection from `remote`, taken once; else `remote` itself. */
  #clientOf(remote: Deno.NetAddr): ClientAddress {
    const announced = remote.hostname === "127.0.0.1" ? this.#expected.get(remote.port) : undefined;
    if (announced) {
      this.#expected.delete(remote.port);
      return announced;
    }
    return { address: remote.hostname, port: remote.port };
  }

  async #accept(terminator: Terminator): Promise<void> {
    // The one accept loop: an accept error (EMFILE) waits and retries; closing ends it.
    const accepted = acceptConnections(terminator.listener, {
      closed: () => this.#closed,
      onRetry: (error, inMs) =>
        log.warn("TLS listener cannot accept; retrying", { error: String(error), inMs }),
    });
    for await (const conn of accepted) {
      noDelay(conn);
      this.#conns.add(conn);
      this.#serve(conn, terminator.domain).catch((error) => {
        if (
          isConnectionError(error) ||
          (error instanceof Error && /handshake|tls|certificate/i.test(error.message))
        ) {
          log.debug("TLS connection ended", {
            domain: terminator.domain,
            error: peerGoneText(error),
          });
        } else {
          log.error("TLS connection failed", { error: String(error) });
        }
      }).finally(() => {
        this.#conns.delete(conn);
        closeQuietly(conn);
      });
    }
  }

  async #serve(conn: Deno.TlsConn, domain: string): Promise<void> {
    // The ingress announces the client before it relays the ClientHello, so once the
    // handshake is done the announcement is there (looked up at accept, it could be early).
    const timer = setTimeout(() => closeQuietly(conn), REQUEST_HEAD_TIMEOUT_MS);
    try {
      await conn.handshake();
    } finally {
      clearTimeout(timer);
    }
    const client = this.#clientOf(conn.remoteAddr as Deno.NetAddr);
    await serveHttpConnection(conn, new Uint8Array(0), client, "https", this.sites, domain);
  }

  /** Closes every listener and connection; resolves once the listeners are gone. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const terminator of this.#byDomain.values()) closeQuietly(terminator.listener);
    this.#byDomain.clear();
    for (const conn of this.#conns) closeQuietly(conn);
    this.#conns.clear();
    await Promise.all(this.#loops);
  }
}
