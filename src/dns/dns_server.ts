// The DNS proxy's sockets: UDP and TCP (two-byte length prefix, RFC 1035 section 4.2.2) on one
// address and port, each question answered by a DnsResolver; and the exchange that carries
// forwarded questions to an upstream over the same transport the client used.

import { log } from "../log/mod.ts";
import { bindUdp, type UdpSocket } from "../net/mod.ts";
import type { DnsResolver, Exchange, Upstream } from "./dns_resolver.ts";

/** Largest DNS message (TCP length prefix). */
const MAX_MESSAGE_BYTES = 65535;
/** A TCP client silent this long is closed. */
const TCP_IDLE_MS = 10_000;
/** Questions answered at once per TCP connection and in total over UDP (a flood costs little). */
const MAX_INFLIGHT = 256;

export interface DnsServerOptions {
  address: string;
  /** @default 53 */
  port?: number;
  resolver: DnsResolver;
}

/** A running proxy; `close()` releases both sockets. */
export class DnsServer {
  #udp: UdpSocket;
  #tcp: Deno.TcpListener;
  #inflight = 0;
  readonly #conns = new Set<Deno.Conn>();
  #closed = false;
  readonly #accepting: Promise<void>;

  private constructor(
    bind: (onQuery: (query: Uint8Array, address: string, port: number) => void) => UdpSocket,
    tcp: (port: number) => Deno.TcpListener,
    readonly resolver: DnsResolver,
  ) {
    this.#udp = bind((query, address, port) => this.#answerUdp(query, address, port));
    try {
      this.#tcp = tcp(this.#udp.port);
    } catch (error) {
      this.#udp.close();
      throw error;
    }
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Binds UDP and TCP on `address:port`.
   *
   * @throws {Error} when either cannot be bound (address not local, port in use)
   */
  static start(options: DnsServerOptions): Promise<DnsServer> {
    // Port 0: the free UDP port picked may be taken for TCP; pick again a few times.
    for (let attempt = 1;; attempt++) {
      try {
        return Promise.resolve(DnsServer.#bind(options));
      } catch (error) {
        if (options.port !== 0 || !(error instanceof Deno.errors.AddrInUse) || attempt >= 8) {
          return Promise.reject(error);
        }
      }
    }
  }

  static #bind(options: DnsServerOptions): DnsServer {
    const port = options.port ?? 53;
    return new DnsServer(
      (onQuery) => bindUdp(options.address, port, onQuery),
      (udpPort) => Deno.listen({ hostname: options.address, port: udpPort }),
      options.resolver,
    );
  }

  get port(): number {
    return this.#tcp.addr.port;
  }

  #answerUdp(query: Uint8Array, address: string, port: number): void {
    if (this.#inflight >= MAX_INFLIGHT) return;
    this.#inflight++;
    this.resolver.answer(query, "udp").then((answer) => {
      if (answer && !this.#closed) this.#udp.send(answer, address, port);
    }).catch((error) => log.warn("dns proxy: cannot answer", { error: String(error) }))
      .finally(() => this.#inflight--);
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#tcp.accept();
      } catch {
        return;
      }
      this.#conns.add(conn);
      this.#serveTcp(conn).catch(() => {}).finally(() => {
        this.#conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  }

  async #serveTcp(conn: Deno.Conn): Promise<void> {
    while (!this.#closed) {
      const query = await readFramed(conn, TCP_IDLE_MS);
      if (!query) return;
      const answer = await this.resolver.answer(query, "tcp");
      if (!answer) return;
      await writeFramed(conn, answer);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#tcp.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await this.#accepting;
    this.#udp.close();
  }
}

/** Reads exactly `n` bytes, or null at EOF / idle timeout. */
async function readExactly(conn: Deno.Conn, n: number, idleMs: number): Promise<Uint8Array | null> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), idleMs));
    const read = await Promise.race([conn.read(out.subarray(got)), idle]);
    clearTimeout(timer);
    if (read === null) return null;
    got += read;
  }
  return out;
}

async function readFramed(conn: Deno.Conn, idleMs: number): Promise<Uint8Array | null> {
  const prefix = await readExactly(conn, 2, idleMs);
  if (!prefix) return null;
  const length = (prefix[0] << 8) | prefix[1];
  if (length === 0) return null;
  return await readExactly(conn, length, idleMs);
}

async function writeFramed(conn: Deno.Conn, message: Uint8Array): Promise<void> {
  if (message.length > MAX_MESSAGE_BYTES) return;
  const framed = new Uint8Array(message.length + 2);
  framed[0] = message.length >> 8;
  framed[1] = message.length & 0xff;
  framed.set(message, 2);
  let written = 0;
  while (written < framed.length) written += await conn.write(framed.subarray(written));
}

/** The real exchange: one UDP socket (or TCP connection) per forwarded question. */
export const networkExchange: Exchange = (upstream, query, transport, timeoutMs) =>
  transport === "tcp"
    ? exchangeTcp(upstream, query, timeoutMs)
    : exchangeUdp(upstream, query, timeoutMs);

function exchangeUdp(upstream: Upstream, query: Uint8Array, timeoutMs: number) {
  return new Promise<Uint8Array>((resolve, reject) => {
    let settled = false;
    const done = (error: Error | null, answer?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.close();
      if (error) reject(error);
      else resolve(answer!);
    };
    const timer = setTimeout(() => done(new Error("upstream timed out")), timeoutMs);
    let socket: UdpSocket | undefined;
    try {
      socket = bindUdp(upstream.host.includes(":") ? "::" : "0.0.0.0", 0, (message, _, port) => {
        // Only the upstream asked may answer, with the question's id.
        if (port !== upstream.port || message.length < 2) return;
        if (message[0] !== query[0] || message[1] !== query[1]) return;
        done(null, message);
      });
    } catch (error) {
      return done(error as Error);
    }
    socket.send(query, upstream.host, upstream.port);
  });
}

async function exchangeTcp(upstream: Upstream, query: Uint8Array, timeoutMs: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("upstream timed out")), timeoutMs);
  });
  let conn: Deno.Conn | undefined;
  const work = (async () => {
    conn = await Deno.connect({ hostname: upstream.host, port: upstream.port });
    await writeFramed(conn, query);
    const answer = await readFramed(conn, timeoutMs);
    if (!answer) throw new Error("upstream closed without answering");
    return answer;
  })();
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed */ }
    work.catch(() => {});
  }
}
