// The hub's private-resources service (docs/private-resources.md): owns the resource store,
// the relay port and the current who-reaches-what view, and keeps every connected agent in
// line with it: clients get `olm/wg/peer/add|update|remove` for their sites, sites get
// `burrow/site/clients`. Runs again whenever the store changes (another process added or
// removed a resource or a client) and whenever an agent registers (a new key or address).

import { log } from "../log/mod.ts";
import { type Frame, MSG, type SiteConfig } from "../protocol/mod.ts";
import { SITE_CLIENTS, type SiteClientsMessage } from "../protocol/mod.ts";
import { joinHostPort } from "../net/mod.ts";
import type { HubStore } from "./client_store.ts";
import { DEFAULT_ORG, ResourceStore } from "./resource_store.ts";
import { ResourceView } from "./resource_view.ts";
import { DatagramRelay, type RelayAgent } from "./datagram_relay.ts";
import { directEndpoint, EndpointRegistry } from "./endpoint_registry.ts";
import { looksLikeAnnouncement } from "../protocol/mod.ts";

/** The hub's sessions as this service needs them. */
export interface ResourceSessions {
  /** Connected, registered agents, the org each session is in and whether it hole-punches. */
  registered(): { clientId: string; org: string; holepunch: boolean }[];
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
  /** The hub's WireGuard private key: endpoint announcements are sealed to its public key. */
  hubPrivateKey: Uint8Array;
}

export class ResourceService {
  readonly resources: ResourceStore;
  readonly relay: DatagramRelay;
  readonly endpoints: EndpointRegistry;
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
    endpoints: EndpointRegistry,
  ) {
    this.#options = options;
    this.resources = resources;
    this.relay = relay;
    this.endpoints = endpoints;
  }

  /**
   * Opens the resource tables and binds the relay port.
   *
   * @throws {Error} when the relay port cannot be bound
   */
  static async start(options: ResourceServiceOptions): Promise<ResourceService> {
    const resources = ResourceStore.open(options.stateDir);
    let service: ResourceService | null = null;
    const endpoints = new EndpointRegistry({
      hubPrivateKey: options.hubPrivateKey,
      isAgent: (key) => options.store.listClients().some((c) => c.publicKey === key),
      saved: resources.endpoints(),
      save: (entry) => resources.saveEndpoint(entry),
    });
    try {
      const relay = await DatagramRelay.start({
        port: options.relayPort,
        agents: options.agents,
        partnersOf: (key) => service?.view().partnersOf(key) ?? new Set(),
        saved: resources.relayIndexes(),
        save: (entry) => resources.saveRelayIndex(entry),
        savedAddresses: resources.relayAddresses(),
        saveAddresses: (addresses) => resources.saveRelayAddresses(addresses),
        foreign: (datagram, from) => service?.takeAnnouncement(datagram, from),
        announcedKeyAt: (address) => endpoints.keyAt(address),
        announcedAddressOf: (key) => endpoints.get(key)?.public ?? null,
      });
      service = new ResourceService(options, resources, relay, endpoints);
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

  /** An endpoint announcement reached the relay port: a new mapping is news for peers. */
  takeAnnouncement(datagram: Uint8Array, from: string): void {
    if (!looksLikeAnnouncement(datagram)) return;
    const accepted = this.endpoints.accept(datagram, from);
    if (accepted?.changed) {
      log.debug("agent endpoint learned", { from });
      this.changed();
    }
  }

  /**
   * Where `fromId` reaches `toId` directly: only agents that hole-punch announce endpoints (and
   * one registering without it is forgotten), so both must have announced. Known endpoints are
   * kept across hub restarts, so direct paths stay direct while agents reconnect.
   */
  #direct(fromId: string, toId: string): string | null {
    const keyOf = (id: string) => this.#options.store.getClient(id)?.publicKey ?? "";
    const from = this.endpoints.get(keyOf(fromId)), to = this.endpoints.get(keyOf(toId));
    return from && to ? directEndpoint(from, to) : null;
  }

  /** The current view (rebuilt after `changed()`). */
  view(): ResourceView {
    this.#view ??= new ResourceView({
      clients: this.#options.store.listClients(),
      resources: this.resources.list(),
      orgsOf: (id) => this.resources.orgsOf(id),
      siteNumber: (id) => this.resources.siteNumber(id),
      relayEndpoint: this.relayEndpoint,
      direct: (fromId, toId) => this.#direct(fromId, toId),
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
  sitesAtRegistration(clientId: string, org: string, holepunch: boolean): SiteConfig[] {
    this.#view = null; // the registration may have changed a key or an address
    if (!holepunch) {
      const key = this.#options.store.getClient(clientId)?.publicKey;
      if (key) this.endpoints.forget(key);
    }
    const sites = this.view().sitesFor(clientId, org);
    this.#sentSites.set(clientId, {
      org,
      sites: new Map(sites.map((s) => [s.siteId, JSON.stringify(s)])),
    });
    this.#sentClients.delete(clientId);
    return sites;
  }

  /**
   * The answer to the agent's `olm/wg/relay` / `olm/wg/unrelay` for one of its sites: the relay
   * endpoint, or the direct endpoint it was given; null when the site is not one of its sites
   * or has no direct endpoint to go back to.
   */
  answerRelay(clientId: string, siteId: number, relayed: boolean): Frame | null {
    const sent = this.#sentSites.get(clientId)?.sites.get(siteId);
    if (!sent) return null;
    const site = JSON.parse(sent) as SiteConfig;
    if (relayed) {
      return {
        type: MSG.peerRelay,
        data: { siteId, relayEndpoint: this.relayEndpoint, relayPort: this.relay.port },
      };
    }
    if (site.endpoint === site.relayEndpoint) return null;
    return { type: MSG.peerUnrelay, data: { siteId, endpoint: site.endpoint } };
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
      log.debug("site sent to a client", { clientId, siteId, endpoint: site.endpoint });
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
    log.debug("site clients sent", { clientId, clients: message.clients.length });
    this.#sentClients.set(clientId, text);
  }

  async close(): Promise<void> {
    await this.relay.close().catch((error) =>
      log.warn("relay did not close cleanly", { error: String(error) })
    );
    this.resources.close();
  }
}
