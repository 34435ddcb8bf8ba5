// The agent's part of private resources (docs/private-resources.md), following the session's
// tunnel: as a client, the DNS proxy answering the aliases of the sites it may reach; as a site,
// the SiteRole serving the clients the hub lists. Also the snake_case `networkSettings` real Olm
// reports in `/status`.

import { log as rootLog, type Logger } from "../log/mod.ts";
import {
  cidrContains,
  formatIp,
  joinHostPort,
  parseCidr,
  parseHostPort,
  parseIp,
} from "../net/mod.ts";
import {
  type Frame,
  type NetworkSettingsJson,
  SITE_CLIENTS,
  siteClientsSchema,
} from "../protocol/mod.ts";
import {
  AliasTable,
  DnsResolver,
  DnsServer,
  type Exchange,
  networkExchange,
  parseUpstreams,
  type Upstream,
} from "../dns/mod.ts";
import { hasIpv6, SiteRole, TUNNEL_IPV6_PREFIX, tunnelIpv6Of } from "../site/mod.ts";
import {
  allowedIpsOf,
  type ConnectionParams,
  type SessionExtension,
  type TunnelView,
} from "../session/mod.ts";
import { keyFromBase64 } from "../curve25519/mod.ts";
import { DnsOverride } from "./dns_override.ts";

const PERSISTENT_KEEPALIVE_S = 25;

/** newt's NetworkSettings as real Olm reports it, beside burrow's `tunnelIP` (protocol/). */
export type NetworkSettings = NetworkSettingsJson & { [key: string]: unknown };

function maskOf(bits: number): string {
  const mask = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    mask[i] = (0xff << (8 - Math.max(0, Math.min(8, bits - i * 8)))) & 0xff;
  }
  return formatIp(mask);
}

/** The first host of a network (`100.96.128.0/24` -> `100.96.128.1`), or null. */
export function firstHost(cidr: string): string | null {
  const network = parseCidr(cidr);
  if (!network || network.bytes.length !== 4 || network.bits > 30) return null;
  const bytes = network.bytes.slice();
  bytes[3] += 1;
  return formatIp(bytes);
}

export interface PrivateResourcesOptions {
  params: ConnectionParams;
  /** The agent's state directory (the saved resolv.conf of --override-dns). */
  stateDir: string;
  log?: Logger;
  /** Seam for tests. @default the network */
  exchange?: Exchange;
  /** @default 53 */
  dnsPort?: number;
  /** Resolves endpoint names (`dns` of /connect); the device's resolver when absent. */
  resolveHost?: (host: string) => Promise<string | null>;
}

/** One per session: the DNS proxy and the site role, living and dying with the tunnel. */
export class PrivateResources implements SessionExtension {
  readonly #params: ConnectionParams;
  readonly #log: Logger;
  readonly #exchange: Exchange;
  readonly #dnsPort: number;
  readonly #upstreams: Upstream[];
  readonly site = new SiteRole();
  #dns: DnsServer | null = null;
  #dnsAddress: string | null = null;
  #resolver: DnsResolver | null = null;
  #view: TunnelView | null = null;
  /** The tunnel that holds the derived IPv6 address (src/site/tunnel_ipv6.ts), if any. */
  #ipv6On: object | null = null;
  readonly #override: DnsOverride | null;
  readonly #resolveHost: ((host: string) => Promise<string | null>) | undefined;

  constructor(options: PrivateResourcesOptions) {
    this.#params = options.params;
    this.#log = (options.log ?? rootLog).with({ component: "resources" });
    this.#exchange = options.exchange ?? networkExchange;
    this.#dnsPort = options.dnsPort ?? 53;
    this.#resolveHost = options.resolveHost;
    this.#override = options.params.overrideDns
      ? new DnsOverride({ stateDir: options.stateDir })
      : null;
    const upstreams = parseUpstreams(options.params.upstreamDns ?? []);
    // The API and the command line validated them; anything else here is a bug.
    this.#upstreams = Array.isArray(upstreams) ? upstreams : [];
  }

  /** Where the DNS proxy listens (once the tunnel is up), for `/status`. */
  get dnsAddress(): string | null {
    return this.#dns ? this.#dnsAddress : null;
  }

  async peersChanged(view: TunnelView): Promise<void> {
    this.#view = view;
    if (view.sites.some((site) => hasIpv6(allowedIpsOf(site)))) await this.#ensureIpv6(view);
    const aliasNames = view.sites.flatMap((site) => site.aliases.map((a) => a.alias));
    const aliases = new AliasTable(view.sites.flatMap((site) => site.aliases));
    if (this.#resolver) {
      this.#resolver.setAliases(aliases);
      await this.#override?.aliasesChanged(aliasNames);
      return;
    }
    const address = this.#params.dnsProxyIP || firstHost(view.utilitySubnet);
    if (!address) return;
    this.#resolver = new DnsResolver({
      aliases,
      upstreams: this.#upstreams,
      exchange: this.#exchange,
    });
    try {
      if (!this.#isLocal(address, view)) await view.tunnel.addAddress(`${address}/32`);
      this.#dns = await DnsServer.start({
        address,
        port: this.#dnsPort,
        resolver: this.#resolver,
      });
      this.#dnsAddress = address;
      this.#log.info("dns proxy listening", { address, aliases: aliases.size });
    } catch (error) {
      this.#resolver = null;
      this.#log.warn("cannot start the dns proxy", { address, error: String(error) });
      return;
    }
    try {
      await this.#override?.apply(address, view.interfaceName, aliasNames);
    } catch (error) {
      this.#log.warn("cannot point the host's resolver at the proxy", { error: String(error) });
    }
  }

  /** Whether the proxy's address is the tunnel's own (no extra address needed). */
  #isLocal(address: string, view: TunnelView): boolean {
    return view.tunnelIP.split("/")[0] === address;
  }

  async handle(frame: Frame, view: TunnelView): Promise<boolean> {
    if (frame.type !== SITE_CLIENTS) return false;
    const parsed = siteClientsSchema.safeParse(frame.data);
    if (!parsed.success) {
      this.#log.warn("ignored a malformed site clients message");
      return true;
    }
    const tunnel = view.tunnel;
    const clients = parsed.data.clients.filter((c) =>
      keyFromBase64(c.publicKey) && parseIp(c.tunnelIP)?.length === 4
    );
    // Replies to a client's IPv6 address go back into the tunnel by the /96's route.
    if (clients.some((c) => hasIpv6(c.destinations))) await this.#ensureIpv6(view);
    await this.site.apply({
      identity: tunnel,
      interfaceName: view.interfaceName,
      tunnelIP: view.tunnelIP.split("/")[0],
      peers: {
        setClientPeer: async (client, allowedIps) =>
          await tunnel.setPeer({
            publicKey: keyFromBase64(client.publicKey)!,
            endpoint: await this.#resolved(client.endpoint),
            allowedIps,
            persistentKeepaliveS: PERSISTENT_KEEPALIVE_S,
          }),
        removeClientPeer: (key) => tunnel.removePeer(keyFromBase64(key)!),
      },
    }, { clients });
    return true;
  }

  /**
   * Gives the tunnel interface the agent's derived IPv6 address with the /96 (once per tunnel):
   * the source of a client's packets to IPv6 destinations, and the route of a site's replies.
   */
  async #ensureIpv6(view: TunnelView): Promise<void> {
    if (this.#ipv6On === view.tunnel) return;
    const address = tunnelIpv6Of(view.tunnelIP);
    if (!address) return;
    const bits = TUNNEL_IPV6_PREFIX.split("/")[1];
    try {
      await view.tunnel.addAddress(`${address}/${bits}`);
      this.#ipv6On = view.tunnel;
      this.#log.info("tunnel IPv6 address added", { address });
    } catch (error) {
      this.#log.warn("cannot add the tunnel's IPv6 address", { address, error: String(error) });
    }
  }

  /** `host:port` with the host resolved through `dns` when one was given. */
  async #resolved(endpoint: string): Promise<string> {
    const split = parseHostPort(endpoint);
    if (!this.#resolveHost || !split || parseIp(split.host)) return endpoint;
    const address = await this.#resolveHost(split.host);
    if (!address) throw new Error(`Cannot resolve ${split.host} through the dns server`);
    return joinHostPort(address, split.port);
  }

  async tunnelClosing(): Promise<void> {
    this.#view = null;
    this.#ipv6On = null;
    const dns = this.#dns;
    this.#dns = null;
    this.#resolver = null;
    await this.#override?.revert().catch((error) =>
      this.#log.warn("cannot restore the host's resolver", { error: String(error) })
    );
    await dns?.close();
    await this.site.close();
  }

  /** `/status` `networkSettings`: burrow's `tunnelIP` and newt's snake_case fields. */
  networkSettings(tunnelIP: string): NetworkSettings {
    const settings: NetworkSettings = { tunnelIP };
    const own = parseCidr(tunnelIP);
    if (!tunnelIP || !own) return settings;
    const routes: { destination_address: string; subnet_mask: string }[] = [];
    for (const site of this.#view?.sites ?? []) {
      for (const cidr of allowedIpsOf(site)) {
        const network = parseCidr(cidr);
        if (!network || network.bytes.length !== 4) continue;
        if (
          own.bytes.length === 4 && network.bits >= own.bits && cidrContains(own, network.bytes)
        ) {
          continue; // reached through the tunnel's own network route
        }
        routes.push({
          destination_address: formatIp(network.bytes),
          subnet_mask: maskOf(network.bits),
        });
      }
    }
    const address = tunnelIP.split("/")[0];
    return {
      ...settings,
      mtu: this.#params.mtu,
      dns_servers: this.dnsAddress ? [this.dnsAddress] : [],
      ipv4_addresses: [address],
      ipv4_subnet_masks: [maskOf(own.bits)],
      ipv4_included_routes: routes,
    };
  }
}
