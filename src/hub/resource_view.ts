// Who reaches what (docs/private-resources.md): from the clients and resources in the hub's
// store, the sites a client gets in its org (Olm `SiteConfig`s), the clients a site must serve
// (with what each may reach there), and the pairs the relay lets talk. Pure: a snapshot in,
// answers out; the hub takes a new snapshot whenever the store changes.

import type { SiteConfig } from "../protocol/mod.ts";
import { SITE_SERVER_PORT, type SiteClient } from "../protocol/mod.ts";
import type { Resource } from "./resource_store.ts";

/** An agent as the view needs it. */
export interface ViewClient {
  id: string;
  name: string;
  tunnelIP: string | null;
  publicKey: string | null;
}

export interface ViewSnapshot {
  clients: readonly ViewClient[];
  resources: readonly Resource[];
  orgsOf(clientId: string): readonly string[];
  siteNumber(clientId: string): number;
  /** `host:port` of the hub's relay. */
  relayEndpoint: string;
  /**
   * Where `fromId` should send to reach `toId` directly, or null: unknown endpoints, or either
   * side without hole punching (then every path is relayed).
   */
  direct?(fromId: string, toId: string): string | null;
}

/** Whether `client` may reach `resource` (it is in the org and on the list; never its own). */
export function mayAccess(
  snapshot: Pick<ViewSnapshot, "orgsOf">,
  clientId: string,
  resource: Resource,
): boolean {
  if (clientId === resource.site) return false;
  if (!snapshot.orgsOf(clientId).includes(resource.org)) return false;
  return resource.access === "all" || resource.access.includes(clientId);
}

const hostOf = (cidr: string) => cidr.split("/")[0];
const NO_PARTNERS: ReadonlySet<string> = new Set();
const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

export class ResourceView {
  readonly #byId: Map<string, ViewClient>;
  #partners: Map<string, Set<string>> | null = null;

  constructor(readonly snapshot: ViewSnapshot) {
    this.#byId = new Map(snapshot.clients.map((c) => [c.id, c]));
  }

  /** The sites (agents that registered) holding resources `clientId` may reach in `org`. */
  sitesFor(clientId: string, org: string): SiteConfig[] {
    const bySite = new Map<string, Resource[]>();
    for (const resource of this.snapshot.resources) {
      if (resource.org !== org || !mayAccess(this.snapshot, clientId, resource)) continue;
      const list = bySite.get(resource.site) ?? [];
      list.push(resource);
      bySite.set(resource.site, list);
    }
    const sites: SiteConfig[] = [];
    for (const [siteId, resources] of bySite) {
      const site = this.#byId.get(siteId);
      if (!site?.publicKey || !site.tunnelIP) continue;
      sites.push({
        siteId: this.snapshot.siteNumber(siteId),
        name: site.name || site.id,
        endpoint: this.snapshot.direct?.(clientId, siteId) ?? this.snapshot.relayEndpoint,
        relayEndpoint: this.snapshot.relayEndpoint,
        publicKey: site.publicKey,
        serverIP: site.tunnelIP,
        serverPort: SITE_SERVER_PORT,
        remoteSubnets: sorted(resources.map((r) => r.destination)),
        aliases: resources.filter((r) => r.alias).map((r) => ({
          alias: r.alias!,
          aliasAddress: hostOf(r.destination),
        })).sort((x, y) => x.alias.localeCompare(y.alias)),
      });
    }
    return sites.sort((x, y) => x.siteId - y.siteId);
  }

  /** The clients `siteId` serves, each with every destination it may reach there (any org). */
  clientsOf(siteId: string): SiteClient[] {
    const mine = this.snapshot.resources.filter((r) => r.site === siteId);
    const out: SiteClient[] = [];
    for (const client of this.snapshot.clients) {
      if (!client.publicKey || !client.tunnelIP) continue;
      const destinations = mine.filter((r) => mayAccess(this.snapshot, client.id, r))
        .map((r) => r.destination);
      if (!destinations.length) continue;
      const direct = this.snapshot.direct?.(siteId, client.id);
      out.push({
        publicKey: client.publicKey,
        tunnelIP: client.tunnelIP,
        endpoint: this.snapshot.relayEndpoint,
        ...(direct ? { directEndpoint: direct } : {}),
        destinations: sorted(destinations),
      });
    }
    return out.sort((x, y) => x.publicKey.localeCompare(y.publicKey));
  }

  /** Keys of the agents `publicKey`'s agent may exchange relayed datagrams with. */
  partnersOf(publicKey: string): ReadonlySet<string> {
    this.#partners ??= this.#allPartners();
    return this.#partners.get(publicKey) ?? NO_PARTNERS;
  }

  /** Every allowed pair, both ways, computed once per snapshot (the relay asks per datagram). */
  #allPartners(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    const link = (x: string, y: string) => {
      for (const [from, to] of [[x, y], [y, x]]) {
        const set = out.get(from) ?? new Set<string>();
        set.add(to);
        out.set(from, set);
      }
    };
    for (const resource of this.snapshot.resources) {
      const site = this.#byId.get(resource.site);
      if (!site?.publicKey) continue;
      for (const client of this.snapshot.clients) {
        if (client.publicKey && mayAccess(this.snapshot, client.id, resource)) {
          link(site.publicKey, client.publicKey);
        }
      }
    }
    return out;
  }

  /** Whether `clientId` acts as a site (publishes at least one resource). */
  isSite(clientId: string): boolean {
    return this.snapshot.resources.some((r) => r.site === clientId);
  }
}
