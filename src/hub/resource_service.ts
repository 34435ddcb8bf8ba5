// The hub's private-resources service (docs/private-resources.md): owns the resource store,
// the relay port and the current who-reaches-what view, and keeps every connected agent in
// line with it: clients get `olm/wg/peer/add|update|remove` for their sites, sites get
// `burrow/site/clients`. Runs again whenever the store changes (another process added or
// removed a resource or a client) and whenever an agent registers (a new key or address).

import { log } from "../log/logger.ts";
import { type Frame, MSG, type SiteConfig } from "../protocol/control.ts";
import { SITE_CLIENTS, type SiteClientsMessage } from "../protocol/resources.ts";
import { joinHostPort } from "../net/ip.ts";
import type { HubStore } from "./store.ts";
import { DEFAULT_ORG, ResourceStore } from "./resource_store.ts";
import { ResourceView } from "./resource_view.ts";
import { DatagramRelay, type RelayAgent } from "./datagram_relay.ts";

/** The hub's sessions as this service needs them. */
export interface ResourceSessions {
  /** Connected, registered agents and the org each session is in. */
  registered(): { clientId: string; org: string }[];
  send(clientId: string, frame: Frame): void;
}

export interface ResourceServiceOptions {
  stateDir: string;
  store: HubStore;
  /** The host agents use for the hub (`--public-host`). */
  publicHost: string;
  /** UDP port of the relay; 0 picks a free one. */
  relayPort: number;
  /** The hub device's peers (every registered agent), for agents' addresses. */
  agents(): Promise<RelayAgent[]>;
}

export class ResourceService {
  readonly resources: ResourceStore;
  readonly relay: DatagramRelay;
  readonly #options: ResourceServiceOptions;
  #view: ResourceView | null = null;
  #sessions: ResourceSessions | null = null;
  /** What each connected client was last told: its sites by id (as JSON), and its org. */
  readonly #sentSites = new Map<string, { org: string; sites: Map<number, string> }>();
  /** What each site was last told (as JSON). */
  readonly #sentClients = new Map<string, string>();

  private constructor(
    options: ResourceServiceOptions,
    resources: ResourceStore,
    relay: DatagramRelay,
  ) {
    this.#options = options;
    this.resources = resources;
    this.relay = relay;
  }

  /**
   * Opens the resource tables and binds the relay port.
   *
   * @throws {Error} when the relay port cannot be bound
   */
  static async start(options: ResourceServiceOptions): Promise<ResourceService> {
    const resources = ResourceStore.open(options.stateDir);
    let service: ResourceService | null = null;
    try {
      const relay = await DatagramRelay.start({
        port: options.relayPort,
        agents: options.agents,
        partnersOf: (key) => service?.view().partnersOf(key) ?? new Set(),
        saved: resources.relayIndexes(),
        save: (entry) => resources.saveRelayIndex(entry),
      });
      service = new ResourceService(options, resources, relay);
      return service;
    } catch (error) {
      resources.close();
      throw error;
    }
  }

  get relayPort(): number {
    return this.relay.port;
  }

  /** Where agents send relayed datagrams. */
  get relayEndpoint(): string {
    return joinHostPort(this.#options.publicHost, this.relay.port);
  }

  attach(sessions: ResourceSessions): void {
    this.#sessions = sessions;
  }

  /** The current view (rebuilt after `changed()`). */
  view(): ResourceView {
    this.#view ??= new ResourceView({
      clients: this.#options.store.listClients(),
      resources: this.resources.list(),
      orgsOf: (id) => this.resources.orgsOf(id),
      siteNumber: (id) => this.resources.siteNumber(id),
      relayEndpoint: this.relayEndpoint,
    });
    return this.#view;
  }

  /** The org a login lands in: the one asked for (when a member), else `default` or the first. */
  orgForLogin(clientId: string, asked: string | null | undefined): string | null {
    const orgs = this.resources.orgsOf(clientId);
    if (asked) return orgs.includes(asked) ? asked : null;
    return orgs.includes(DEFAULT_ORG) ? DEFAULT_ORG : orgs[0];
  }

  /** The sites a registering client gets in `olm/wg/connect` (recorded as sent). */
  sitesAtRegistration(clientId: string, org: string): SiteConfig[] {
    this.#view = null; // the registration may have changed a key or an address
    const sites = this.view().sitesFor(clientId, org);
    this.#sentSites.set(clientId, {
      org,
      sites: new Map(sites.map((s) => [s.siteId, JSON.stringify(s)])),
    });
    this.#sentClients.delete(clientId);
    return sites;
  }

  /** A session ended: what it was told no longer holds. */
  forget(clientId: string): void {
    this.#sentSites.delete(clientId);
    this.#sentClients.delete(clientId);
  }

  /**
   * The store or an agent changed: rebuilds the view and sends each registered agent what
   * differs from what it was last told.
   */
  changed(): void {
    this.#view = null;
    const sessions = this.#sessions;
    if (!sessions) return;
    const view = this.view();
    const live = new Set<string>();
    for (const { clientId, org } of sessions.registered()) {
      live.add(clientId);
      this.#pushSites(sessions, view, clientId, org);
      this.#pushClients(sessions, view, clientId);
    }
    for (const id of [...this.#sentSites.keys()]) if (!live.has(id)) this.#sentSites.delete(id);
    for (const id of [...this.#sentClients.keys()]) if (!live.has(id)) this.#sentClients.delete(id);
  }

  #pushSites(sessions: ResourceSessions, view: ResourceView, clientId: string, org: string) {
    const before = this.#sentSites.get(clientId);
    if (!before || before.org !== org) return; // not registered through this service yet
    const now = new Map(view.sitesFor(clientId, org).map((s) => [s.siteId, s]));
    for (const siteId of before.sites.keys()) {
      if (now.has(siteId)) continue;
      const old = JSON.parse(before.sites.get(siteId)!) as SiteConfig;
      sessions.send(clientId, {
        type: MSG.peerRemove,
        data: { siteId, publicKey: old.publicKey },
      });
      before.sites.delete(siteId);
    }
    for (const [siteId, site] of now) {
      const text = JSON.stringify(site);
      const old = before.sites.get(siteId);
      if (old === text) continue;
      sessions.send(clientId, { type: old ? MSG.peerUpdate : MSG.peerAdd, data: site });
      before.sites.set(siteId, text);
    }
  }

  #pushClients(sessions: ResourceSessions, view: ResourceView, clientId: string) {
    const message: SiteClientsMessage = { clients: view.clientsOf(clientId) };
    const text = JSON.stringify(message);
    const before = this.#sentClients.get(clientId);
    // Agents that never were a site are told only once they become one.
    if (before === text || (before === undefined && message.clients.length === 0)) return;
    sessions.send(clientId, { type: SITE_CLIENTS, data: message });
    this.#sentClients.set(clientId, text);
  }

  async close(): Promise<void> {
    await this.relay.close().catch((error) =>
      log.warn("relay did not close cleanly", { error: String(error) })
    );
    this.resources.close();
  }
}
