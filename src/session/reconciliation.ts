// The WireGuard device brought in line with what the hub wants: the tunnel interface and its
// address, one peer per site (endpoint resolved, allowed IPs, keepalive), a route per allowed
// network outside the tunnel's own, and the in-tunnel probes that measure each peer. The hub's
// messages (src/session/dispatch.ts) say what is wanted; this file makes the device so.

import {
  cidrContains,
  joinHostPort,
  parseCidr,
  parseHostPort,
  parseIp,
  systemResolve,
} from "../net/mod.ts";
import type { Logger } from "../log/mod.ts";
import { keyFromBase64 } from "../curve25519/mod.ts";
import { errorText } from "./error_text.ts";
import type { Site } from "./hub_messages.ts";
import { allowedIpsOf, directCandidate, PeerTable, relayEndpointOf } from "./peers.ts";
import { ProbeSocket } from "./peer_probe.ts";
import type { ConnectionParams } from "./state.ts";
import type { Tunnel, TunnelFactory, TunnelPeerStats } from "./tunnel.ts";
import { type Frame, MSG } from "../protocol/mod.ts";
import type { SessionExtension, TunnelView } from "./extensions.ts";

/** A host name to one address, or null when it has none. */
export type HostResolver = (host: string) => Promise<string | null>;

/** Persistent keepalive on every peer, so NATs between agent and hub stay open. */
const PERSISTENT_KEEPALIVE_S = 25;

type DeviceParams = Pick<
  ConnectionParams,
  "interfaceName" | "mtu" | "pingIntervalMs"
>;

export interface DeviceReconcilerOptions {
  params: DeviceParams;
  privateKey: Uint8Array;
  tunnels: TunnelFactory;
  log: Logger;
  /** Told of every change of the tunnel and its peers (DNS proxy, site role). */
  extensions?: SessionExtension[];
  /** Resolves endpoint names; the system resolver when absent. */
  resolveHost?: HostResolver;
  /** Sends a message to the hub on the current socket (dropped while it is down). */
  notifyHub?: (frame: Frame) => void;
}

/** The session's device, its peers and routes, and the probes of those peers. */
export class DeviceReconciler {
  readonly #params: DeviceParams;
  readonly #privateKey: Uint8Array;
  readonly #tunnels: TunnelFactory;
  readonly #log: Logger;
  readonly #extensions: SessionExtension[];
  readonly #resolveHost: HostResolver;
  /** `utilitySubnet` of the last `olm/wg/connect`. */
  utilitySubnet = "";
  /** The hub's key and relay from the last login (`exitNodes[0]`). */
  exitNode: { publicKey: string; endpoint: string; relayPort: number } | null = null;
  readonly #notifyHub: (frame: Frame) => void;

  #peers: PeerTable;
  #tunnel: Tunnel | undefined;
  #tunnelIP = "";
  #routes = new Set<string>();
  #probe: ProbeSocket | undefined;
  #probeTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: DeviceReconcilerOptions) {
    this.#params = options.params;
    this.#privateKey = options.privateKey;
    this.#tunnels = options.tunnels;
    this.#log = options.log;
    this.#extensions = options.extensions ?? [];
    this.#resolveHost = options.resolveHost ?? systemResolve;
    this.#notifyHub = options.notifyHub ?? (() => {});
    this.#peers = new PeerTable();
  }

  /** The peers as the hub described them (a new table each time the tunnel opens). */
  get peers(): PeerTable {
    return this.#peers;
  }

  /** The tunnel address with prefix, "" before the first registration. */
  get tunnelIP(): string {
    return this.#tunnelIP;
  }

  /** Byte counts and handshakes of the tunnel's peers (none without a tunnel). */
  async tunnelStats(): Promise<TunnelPeerStats[]> {
    return await this.#tunnel?.peers?.() ?? [];
  }

  /** Whether a tunnel interface is up. */
  get hasTunnel(): boolean {
    return this.#tunnel !== undefined;
  }

  /**
   * Opens the tunnel interface with `tunnelIP` and a fresh peer table. `onLost` runs when the
   * interface disappears on its own.
   *
   * @throws whatever the tunnel factory or `addAddress` throw
   */
  async openTunnel(tunnelIP: string, onLost: () => void): Promise<void> {
    const tunnel = await this.#tunnels({
      name: this.#params.interfaceName,
      mtu: this.#params.mtu,
      privateKey: this.#privateKey,
      onForeignDatagram: (data, from) => this.#foreign(data, from),
    });
    this.#tunnel = tunnel;
    this.#tunnelIP = tunnelIP;
    this.#routes = new Set();
    this.#peers = new PeerTable();
    await tunnel.addAddress(tunnelIP);
    tunnel.closed.then(() => {
      if (this.#tunnel !== tunnel) return;
      this.#log.warn("the tunnel interface disappeared; reconnecting to rebuild it");
      this.#tunnel = undefined;
      onLost();
    });
    this.#log.info("tunnel up", { interface: tunnel.name, tunnelIP });
  }

  /** Makes the device's peers exactly `sites`: others removed, changed keys replaced. */
  async syncPeers(sites: Site[]): Promise<void> {
    const wanted = new Set(sites.map((s) => s.siteId));
    for (const site of this.#peers.sites()) {
      if (!wanted.has(site.siteId)) {
        this.#peers.remove(site.siteId);
        await this.uninstallPeer(site);
      }
    }
    for (const site of sites) {
      const old = this.#peers.get(site.siteId);
      if (old && old.publicKey !== site.publicKey) await this.uninstallPeer(old);
      this.#peers.upsert(site);
      await this.installPeer(site);
    }
  }

  /** Sets the site's peer on the device and routes its networks (no-op without a tunnel). */
  async installPeer(site: Site): Promise<void> {
    const tunnel = this.#tunnel;
    if (!tunnel) return;
    const publicKey = keyFromBase64(site.publicKey);
    if (!publicKey) return this.#log.warn("ignored a site with a bad key", { siteId: site.siteId });
    const endpoint = await resolveEndpoint(
      this.#peers.endpointOf(site.siteId) ?? site.endpoint,
      this.#resolveHost,
    );
    const allowedIps = allowedIpsOf(site);
    await tunnel.setPeer({
      publicKey,
      ...(endpoint ? { endpoint } : {}),
      allowedIps,
      persistentKeepaliveS: PERSISTENT_KEEPALIVE_S,
    });
    for (const cidr of allowedIps) {
      if (this.#routes.has(cidr) || this.#insideTunnelNetwork(cidr)) continue;
      this.#routes.add(cidr);
      await tunnel.addRoute(cidr).catch((error) =>
        this.#log.warn("could not add a route", { cidr, error: errorText(error) })
      );
    }
  }

  #tunnelView(): TunnelView | null {
    if (!this.#tunnel) return null;
    const node = this.exitNode;
    const host = node ? parseHostPort(node.endpoint)?.host : undefined;
    return {
      tunnel: this.#tunnel,
      interfaceName: this.#tunnel.name,
      tunnelIP: this.#tunnelIP,
      utilitySubnet: this.utilitySubnet,
      sites: this.#peers.sites(),
      exitNode: node && host
        ? { publicKey: node.publicKey, relayEndpoint: joinHostPort(host, node.relayPort) }
        : null,
      useRoute: (siteId, route) => this.#useRoute(siteId, route),
      tested: (siteId, ok) => this.#peers.setTested(siteId, ok),
    };
  }

  /** A datagram on the WireGuard socket that is no WireGuard message: for the extensions. */
  #foreign(data: Uint8Array, from: string): void {
    const view = this.#tunnelView();
    if (!view) return;
    for (const extension of this.#extensions) extension.foreignDatagram?.(data, from, view);
  }

  /** Moves a site to its relay or its direct endpoint, and tells the hub. */
  async #useRoute(siteId: number, route: "relay" | "direct"): Promise<void> {
    const site = this.#peers.get(siteId);
    if (!site) return;
    const direct = directCandidate(site);
    if (route === "direct" && !direct) return;
    const endpoint = route === "direct" ? direct! : relayEndpointOf(site.relayEndpoint!, undefined);
    const changed = this.#peers.relayed(siteId) !== (route === "relay");
    if (!this.#peers.setRoute(siteId, endpoint, route === "relay")) return;
    // Set again even when unchanged: WireGuard roams to wherever the peer's last packet came
    // from, so a late packet through the relay would otherwise keep a direct peer relayed.
    await this.installPeer(site);
    if (!changed) return;
    this.#log.info("peer path changed", { siteId, route, endpoint });
    this.#notifyHub({ type: route === "relay" ? MSG.relay : MSG.unrelay, data: { siteId } });
  }

  /** Tells the extensions the tunnel changed; one that fails does not stop the others. */
  async peersChanged(): Promise<void> {
    const view = this.#tunnelView();
    if (!view) return;
    for (const extension of this.#extensions) {
      await extension.peersChanged?.(view).catch((error) =>
        this.#log.warn("could not follow the peers", { error: errorText(error) })
      );
    }
  }

  /** Hands a message the session does not know to the extensions; true when one took it. */
  async offerToExtensions(frame: Frame): Promise<boolean> {
    const view = this.#tunnelView();
    if (!view) return false;
    for (const extension of this.#extensions) {
      if (await extension.handle?.(frame, view)) return true;
    }
    return false;
  }

  /** What the extensions add to `/status`'s `networkSettings`. */
  networkSettings(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const extension of this.#extensions) {
      Object.assign(out, extension.networkSettings?.(this.#tunnelIP) ?? {});
    }
    return out;
  }

  /** Removes the site's peer from the device. */
  async uninstallPeer(site: Site): Promise<void> {
    const publicKey = keyFromBase64(site.publicKey);
    if (this.#tunnel && publicKey) await this.#tunnel.removePeer(publicKey);
  }

  #insideTunnelNetwork(cidr: string): boolean {
    const network = parseCidr(this.#tunnelIP);
    const inner = parseCidr(cidr);
    if (!network || !inner || network.bytes.length !== inner.bytes.length) return false;
    return inner.bits >= network.bits && cidrContains(network, inner.bytes);
  }

  /** Starts probing every peer each ping interval (once; later calls do nothing). */
  async startProbes(): Promise<void> {
    if (this.#probe) return;
    this.#probe = await ProbeSocket.open((address, port, rttNs) => {
      this.#peers.recordReply(address, port, rttNs, Date.now());
    });
    this.#probeRound();
    this.#probeTimer = setInterval(() => this.#probeRound(), this.#params.pingIntervalMs);
  }

  #probeRound(): void {
    for (const target of this.#peers.probeTargets()) {
      this.#probe?.send(target.address, target.port);
    }
  }

  /**
   * Starts a fresh WireGuard handshake with every peer now: each is removed from the device and
   * set again (its old session forgotten, its keepalive switched on anew), then probed. After a
   * hub restart the hub has forgotten the session the agent still holds; without this the
   * agent would keep sending on it until WireGuard gives up on it (15 s or more).
   */
  async restartHandshakes(): Promise<void> {
    for (const site of this.#peers.sites()) {
      await this.uninstallPeer(site);
      await this.installPeer(site);
    }
    this.#probeRound();
  }

  /** Closes the probes, then the device (interface and its routes). */
  async teardown(): Promise<void> {
    clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
    const probe = this.#probe;
    this.#probe = undefined;
    await probe?.close();
    await this.closeTunnel();
  }

  /** Closes the device (interface and its routes); the tunnel address stays for `status`. */
  async closeTunnel(): Promise<void> {
    const tunnel = this.#tunnel;
    this.#tunnel = undefined;
    this.#routes = new Set();
    if (tunnel) {
      for (const extension of this.#extensions) {
        await extension.tunnelClosing?.().catch((error) =>
          this.#log.warn("could not wind down with the tunnel", { error: errorText(error) })
        );
      }
      await tunnel.close();
      this.#log.info("tunnel down", { interface: tunnel.name });
    }
  }
}

/** `host:port` with the host resolved to an address (again on every call); null if it cannot be. */
async function resolveEndpoint(endpoint: string, resolve: HostResolver): Promise<string | null> {
  const parsed = parseHostPort(endpoint);
  if (!parsed) return null;
  if (parseIp(parsed.host)) return endpoint;
  const address = await resolve(parsed.host).catch(() => null);
  if (!address) return null;
  return address.includes(":") ? `[${address}]:${parsed.port}` : `${address}:${parsed.port}`;
}
