// An agent acting as a site (docs/private-resources.md): on every `burrow/site/clients` from
// the hub it makes the device's client peers exactly the listed clients (each limited to its
// own tunnel address), replaces its kernel rules (who may reach what, masquerade to the LAN),
// and answers the clients' RTT probes. `close()` undoes all of it.
//
//   1. client peers: added or updated (endpoint: the hub's relay), the ones no longer listed removed
//   2. the nftables table replaced in one transaction; forwarding on where traffic crosses
//   3. the probe responder on the tunnel address (moved when the address changes)

import { log } from "../log/mod.ts";
import { SITE_SERVER_PORT, type SiteClient, type SiteClientsMessage } from "../protocol/mod.ts";
import { type CommandRunner, runCommand, SiteFirewall } from "./site_firewall.ts";
import { type SiteProbe, startSiteProbe } from "./site_probe.ts";
import { clientAllowedIps } from "./tunnel_ipv6.ts";

/** What the site needs of the agent's WireGuard device (keys in base64). */
export interface SitePeers {
  /** Sets the client's peer, allowing exactly `allowedIps` (see ./tunnel_ipv6.ts). */
  setClientPeer(client: SiteClient, allowedIps: string[]): Promise<void>;
  removeClientPeer(publicKey: string): Promise<void>;
}

export interface SiteDevice {
  /** The device itself: a new one (the tunnel was rebuilt) has none of the old peers. */
  identity: object;
  interfaceName: string;
  /** The agent's tunnel address, no prefix. */
  tunnelIP: string;
  peers: SitePeers;
}

export class SiteRole {
  readonly #run: CommandRunner;
  #firewall: SiteFirewall | null = null;
  #probe: SiteProbe | null = null;
  /** Client peers installed, by key, as last set. */
  #installed = new Map<string, string>();
  #device: SiteDevice | null = null;
  #queue: Promise<void> = Promise.resolve();

  constructor(run: CommandRunner = runCommand) {
    this.#run = run;
  }

  /** The clients this site serves now. */
  get clients(): number {
    return this.#installed.size;
  }

  /** Applies the hub's list; changes are applied one list at a time, in arrival order. */
  apply(device: SiteDevice, message: SiteClientsMessage): Promise<void> {
    const work = this.#queue.then(() => this.#apply(device, message));
    this.#queue = work.catch((error) =>
      log.error("site: cannot apply clients", { error: String(error) })
    );
    return work;
  }

  async #apply(device: SiteDevice, message: SiteClientsMessage): Promise<void> {
    if (this.#device && this.#device.interfaceName !== device.interfaceName) await this.#release();
    // A new device (reconnect) has none of the old peers.
    if (this.#device?.identity !== device.identity) this.#installed.clear();
    this.#device = device;
    // 1. Peers.
    const wanted = new Map(message.clients.map((c) => [c.publicKey, c]));
    for (const key of [...this.#installed.keys()]) {
      if (wanted.has(key)) continue;
      await device.peers.removeClientPeer(key).catch((error) =>
        log.warn("site: cannot remove a client peer", { error: String(error) })
      );
      this.#installed.delete(key);
    }
    for (const client of message.clients) {
      const allowedIps = clientAllowedIps(client);
      const fingerprint = JSON.stringify([allowedIps, client.endpoint]);
      if (this.#installed.get(client.publicKey) === fingerprint) continue;
      await device.peers.setClientPeer(client, allowedIps);
      this.#installed.set(client.publicKey, fingerprint);
    }
    // 2. Kernel rules.
    this.#firewall ??= new SiteFirewall(device.interfaceName, this.#run);
    await this.#firewall.apply({
      tunnelIP: device.tunnelIP,
      probePort: SITE_SERVER_PORT + 1,
      grants: message.clients.map((c) => ({ tunnelIP: c.tunnelIP, destinations: c.destinations })),
    });
    // 3. Probe responder.
    if (this.#probe?.address !== device.tunnelIP) {
      await this.#probe?.close();
      this.#probe = null;
      try {
        this.#probe = await startSiteProbe(device.tunnelIP, SITE_SERVER_PORT + 1);
      } catch (error) {
        log.warn("site: cannot answer probes", { error: String(error) });
      }
    }
    log.info("site: clients applied", { clients: message.clients.length });
  }

  async #release(): Promise<void> {
    await this.#probe?.close();
    this.#probe = null;
    await this.#firewall?.close();
    this.#firewall = null;
    this.#installed.clear();
    this.#device = null;
  }

  /** Removes the rules and the probe responder, restores forwarding. */
  async close(): Promise<void> {
    await this.#queue;
    await this.#release();
  }
}
