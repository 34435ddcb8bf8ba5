// The site's in-tunnel probe responder: clients measure their path to a site by sending the
// RTT probe to its tunnel address at SITE_SERVER_PORT + 1, as they do to the hub.

import { bindUdp } from "../net/mod.ts";
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
  try {
    const socket = bindUdp(address, port, (message, from, fromPort) => {
      const reply = answerProbe(message);
      if (reply) socket.send(reply, from, fromPort);
    });
    return Promise.resolve({
      address,
      close: () => Promise.resolve(socket.close()),
    });
  } catch (error) {
    return Promise.reject(error);
  }
}
