// The control endpoint with client certificates (`--client-ca`): Deno.serve cannot ask for a
// client certificate, so a node:tls server in front of the control listener does the TLS —
// requesting the certificate and refusing the handshake unless it chains to the client CA — and
// hands the decrypted bytes to the listener's Unix socket, behind a PROXY v2 header that names
// the client, so the listener's per-address limits and the login gate see the real address.
// The front bounds what the listener cannot see: TLS handshakes time out, and connections are
// capped in total.

import { connect, type Socket } from "node:net";
import { createServer, type TLSSocket } from "node:tls";
import { log } from "../log/mod.ts";
import { encodeProxyV2 } from "../net/mod.ts";

/** How long a client may keep its connection after the listener closed its end. */
const LINGER_MS = 5_000;

export interface MutualTlsFrontOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /** PEM certificate chain and key of the endpoint. */
  cert: string;
  key: string;
  /** PEM certificate(s) of the CA that signs agents' client certificates. */
  clientCa: string;
  /** The control listener's Unix socket (ControlListenerOptions.frontedPath). */
  backendPath: string;
  /** A TLS handshake not done by then is dropped. @default 10_000 */
  handshakeTimeoutMs?: number;
  /** Connections held at once; past it a new one is closed at once. @default 4096 */
  maxConnections?: number;
}

export interface MutualTlsFront {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts the front. A client without a certificate, or with one the CA did not sign, fails
 * the handshake (TLS alert) and never reaches the control server.
 *
 * @throws {Error} when the address is in use or a PEM is invalid
 */
export async function startMutualTlsFront(options: MutualTlsFrontOptions): Promise<MutualTlsFront> {
  const sockets = new Set<Socket>();
  const server = createServer({
    cert: options.cert,
    key: options.key,
    ca: options.clientCa,
    requestCert: true,
    rejectUnauthorized: true,
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
  }, (client: TLSSocket) => {
    const source = { address: client.remoteAddress ?? "", port: client.remotePort ?? 0 };
    const destination = { address: client.localAddress ?? "", port: client.localPort ?? 0 };
    let header: Uint8Array;
    try {
      header = encodeProxyV2(normalize(source), normalize(destination));
    } catch {
      client.destroy();
      return;
    }
    const upstream = connect({ path: options.backendPath });
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    // The client gone: nothing more to deliver. The listener done: pipe() ends the client's
    // side once the answer is flushed (destroying it here would cut the answer short), and a
    // client that keeps its side open after that is dropped.
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", () => setTimeout(end, LINGER_MS).unref());
    upstream.write(header);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.maxConnections = options.maxConnections ?? 4096;
  server.on("tlsClientError", (error: Error, socket: Socket) => {
    log.warn("refused a TLS client", { reason: error.message });
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** node reports IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d. */
function normalize(address: { address: string; port: number }) {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address.address);
  return mapped ? { address: mapped[1], port: address.port } : address;
}
