// What the session lets other parts of the agent add to a tunnel's life without knowing them
// (the DNS proxy and the site role, src/agent/private_resources.ts): a look at the tunnel after
// every change of its peers, messages the session does not handle itself, and a last word
// before the tunnel closes.

import type { Frame } from "../protocol/mod.ts";
import type { Site } from "./hub_messages.ts";
import type { Tunnel } from "./tunnel.ts";

/** The tunnel as it stands, for extensions. */
export interface TunnelView {
  tunnel: Tunnel;
  interfaceName: string;
  /** With its prefix, e.g. `100.89.128.3/20`. */
  tunnelIP: string;
  /** `utilitySubnet` of the last `olm/wg/connect` ("" when the hub sent none). */
  utilitySubnet: string;
  /** The sites the tunnel has peers for, as configured now. */
  sites: readonly Site[];
  /** The hub's WireGuard key and relay endpoint (`host:relayPort`), from the login. */
  exitNode: { publicKey: string; relayEndpoint: string } | null;
  /**
   * Moves a site's traffic to its relay or to its direct endpoint (the device's peer endpoint
   * changes, `/status` follows) and tells the hub (`olm/wg/relay` / `olm/wg/unrelay`) when the
   * route changed; called again with the same route it only sets the endpoint again.
   */
  useRoute(siteId: number, route: "relay" | "direct"): Promise<void>;
  /** Records whether the last test of a site's direct path succeeded (`holepunchConnected`). */
  tested(siteId: number, ok: boolean): void;
}

export interface SessionExtension {
  /** The tunnel came up or its peers changed (connect, peer add/update/remove/relay, sync). */
  peersChanged?(view: TunnelView): Promise<void>;
  /** A hub message the session does not know; resolves true when it was this extension's. */
  handle?(frame: Frame, view: TunnelView): Promise<boolean>;
  /** A datagram on the WireGuard socket that is no WireGuard message. */
  foreignDatagram?(data: Uint8Array, from: string, view: TunnelView): void;
  /** The tunnel is about to close (stop, termination, or a new address). */
  tunnelClosing?(): Promise<void>;
  /** Fields this extension adds to `/status`'s `networkSettings` (`tunnelIP` with prefix). */
  networkSettings?(tunnelIP: string): Record<string, unknown>;
}
