// The site's in-tunnel probe responder: clients measure their path to a site by sending the
// RTT probe to its tunnel address at SITE_SERVER_PORT + 1, as they do to the hub.

import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { answerProbe } from "../protocol/mod.ts";

export interface SiteProbe {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Binds `address:port` and answers probes until closed.
 *
 * @throws {Error} when the address is not (yet) on an interface or the port is taken
 */
export function startSiteProbe(address: string, port: number): Promise<SiteProbe> {
  const socket = dgram.createSocket(address.includes(":") ? "udp6" : "udp4");
  socket.on("message", (message: Uint8Array, remote: { address: string; port: number }) => {
    const reply = answerProbe(new Uint8Array(message));
    if (reply) socket.send(Buffer.from(reply), remote.port, remote.address);
  });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, address, () => {
      socket.off("error", reject);
      socket.on("error", () => {/* a reply to a vanished client is not fatal */});
      resolve({
        address,
        close: () => new Promise<void>((done) => socket.close(() => done())),
      });
    });
  });
}
