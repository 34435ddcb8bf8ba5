// The control endpoint with client certificates (`--client-ca`): Deno.serve cannot ask for a
// client certificate, so a node:tls server in front of it does the TLS — requesting the
// certificate and refusing the handshake unless it chains to the client CA — and hands the
// decrypted bytes to the control server listening on loopback.

import { connect, type Socket } from "node:net";
import { createServer, type TLSSocket } from "node:tls";
import { log } from "../log/mod.ts";

export interface MutualTlsFrontOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /** PEM certificate chain and key of the endpoint. */
  cert: string;
  key: string;
  /** PEM certificate(s) of the CA that signs agents' client certificates. */
  clientCa: string;
  /** The plain control server on loopback. */
  backend: { hostname: string; port: number };
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
  }, (client: TLSSocket) => {
    const upstream = connect(options.backend.port, options.backend.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.on("tlsClientError", (error: Error) => {
    log.warn("refused a TLS client", { reason: error.message });
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
