// The agent's traffic rules, live: the stored rule set (rule_store.ts) joined to the data
// plane (ingress listeners, TLS terminators, certificates, port maps) and to the hub. Every
// change is validated whole, written atomically, applied without touching other rules'
// connections, and synced to the hub; a hub refusal rolls it back.

import { log } from "../log/mod.ts";
import {
  type HttpsRule,
  MSG,
  parseTrafficKeys,
  parseTrafficRules,
  type PortMapRule,
  type PortRule,
  publicHttpsRule,
  RuleError,
  type TrafficRules,
} from "../protocol/mod.ts";
import { AcmeCertificates, type AcmeOptions, loadCustomCertificate } from "./certificates.ts";
import { checkHealth, type HealthEntry } from "./health.ts";
import type { ClientAddress, CompiledSite, SiteEvent } from "./site_routing.ts";
import { askHub, type RulesSession, syncPayload } from "./hub_link.ts";
import { assertSyncFits } from "./sync_limit.ts";
import { recordOrReturnPort } from "./port_allocation.ts";
import { compilePortRoutes, compileSites, type LiveTables } from "./live_tables.ts";
import {
  AgentIngress,
  HTTP_PORT,
  HTTPS_PORT,
  type IngressRoutes,
  type PortRoute,
  type TlsRoute,
} from "./tunnel_listeners.ts";
import { type PortMapDialer, PortMapListeners, type StagedPortMaps } from "./portmaps.ts";
import { TlsTerminators } from "./tls_terminator.ts";
import {
  isForward,
  planAllocated,
  planCreate,
  planDelete,
  planHubPorts,
  planReleased,
  planUpdate,
  type RuleSet,
  RuleStore,
} from "./rule_store.ts";

export interface TrafficEngineOptions {
  /** The agent's state directory (rules.json, certs/). */
  stateDir: string;
  /** ACME directory and contact; certificates for `useLetsEnc` sites. */
  acme?: AcmeOptions;
  /** Opens port-map connections through the hub. */
  portMapDialer?: PortMapDialer;
  /** Listen here right away instead of waiting for the tunnel address (tests). */
  listenAddress?: string;
  /** With `listenAddress`: the hub's address, the one peer whose connections are accepted. */
  hubAddress?: string;
  /** Ingress ports. @default {http: 80, https: 443} */
  ingressPorts?: { http: number; https: number };
}

/** Every rule of the agent, served and synced. */
export class TrafficEngine implements IngressRoutes {
  readonly #store: RuleStore;
  readonly #ingress: AgentIngress;
  readonly #terminators: TlsTerminators;
  readonly #acme: AcmeCertificates;
  readonly #portmaps: PortMapListeners;
  #session: RulesSession | null = null;
  #tables: LiveTables = { sites: new Map(), tls: new Map(), ports: new Map() };
  readonly #customCerts = new Map<string, { cert: string; key: string }>();
  #closed = false;
  #siteObserver: ((domain: string, event: SiteEvent) => void) | undefined;

  private constructor(store: RuleStore, readonly options: TrafficEngineOptions) {
    this.#store = store;
    this.#ingress = new AgentIngress(
      this,
      options.ingressPorts ?? { http: HTTP_PORT, https: HTTPS_PORT },
    );
    this.#terminators = new TlsTerminators(this);
    this.#acme = new AcmeCertificates(
      `${options.stateDir}/certs`,
      options.acme ?? {},
      () => this.#refreshTls(),
    );
    this.#portmaps = new PortMapListeners(
      options.portMapDialer ?? (() => Promise.reject(new Error("no tunnel to the hub"))),
    );
  }

  /**
   * Restores the stored rules and starts serving them.
   *
   * @throws when the stored rule file is damaged (the agent must not run without its rules)
   */
  static async start(options: TrafficEngineOptions): Promise<TrafficEngine> {
    const store = await RuleStore.open(options.stateDir);
    const engine = new TrafficEngine(store, options);
    const current = store.current;
    for (const rule of current.https) {
      if (rule.ca && rule.privateKey) {
        try {
          engine.#customCerts.set(
            rule.domain,
            await loadCustomCertificate(rule.ca, rule.privateKey, rule.domain),
          );
        } catch (error) {
          log.warn("stored site certificate unusable", {
            domain: rule.domain,
            error: String(error),
          });
        }
      }
    }
    await (await engine.#portmaps.stage([])).commit(current.portmaps);
    await engine.#applyLive(current);
    if (options.listenAddress) {
      await engine.#ingress.listenOn(options.listenAddress, options.hubAddress);
    }
    return engine;
  }

  /** Connects the engine to the agent's session (null while there is none). */
  setSession(session: RulesSession | null): void {
    this.#session = session;
  }

  /**
   * Called on every (re)registration: listen on the (new) tunnel address, accepting
   * connections from the hub's tunnel address only, take the hub's port allocations and sync
   * the rules.
   */
  async onRegistered(tunnelAddress: string, hubAddress: string | undefined): Promise<void> {
    if (this.#closed) return;
    await this.#ingress.listenOn(tunnelAddress.replace(/\/\d+$/, ""), hubAddress);
    const session = this.#session;
    if (!session) return;
    try {
      const answer = await session.request(MSG.portsList, {});
      const ports = Array.isArray(answer.ports)
        ? answer.ports.filter((p): p is number => Number.isInteger(p))
        : [];
      await this.#store.exclusive(async () => {
        const current = this.#store.current;
        const next = planHubPorts(current, ports);
        if (next !== current) {
          await this.#store.replace(next);
          await this.#applyLive(next);
        }
      });
    } catch (error) {
      log.warn("cannot list the hub's ports", { error: String(error) });
    }
    try {
      await this.sync();
      this.#acme.renewDue();
    } catch (error) {
      log.warn("rules not synced", { error: String(error) });
    }
  }

  /** The tunnel address listened on, or null. */
  get listenAddress(): string | null {
    return this.#ingress.address;
  }

  /** Ports with listeners (for tests). */
  get listening(): number[] {
    return this.#ingress.listening;
  }

  // ---- API-facing reads ----

  /**
   * The `config` lists: private keys left out, and only ports that forward (bare allocations
   * are listed by {@linkcode ports}, as in the spec's examples).
   */
  rules(): { https: Omit<HttpsRule, "privateKey">[]; ports: PortRule[]; portmaps: PortMapRule[] } {
    const current = this.#store.current;
    return {
      https: current.https.map(publicHttpsRule),
      ports: current.ports.filter(isForward),
      portmaps: current.portmaps,
    };
  }

  /** Every allocated port, with or without a forward. */
  ports(): PortRule[] {
    return this.#store.current.ports;
  }

  /** The revision of the stored set. */
  get revision(): number {
    return this.#store.current.revision;
  }

  health(): Promise<HealthEntry[]> {
    return checkHealth(this.#store.current);
  }

  // ---- changes ----

  /** `traffic/create`. @throws {RuleError} */
  create(body: unknown): Promise<void> {
    const request = parseTrafficRules(body);
    return this.#change(request, (current) => planCreate(current, request));
  }

  /** `traffic/update`. @throws {RuleError} */
  update(body: unknown): Promise<void> {
    const request = parseTrafficRules(body);
    return this.#change(request, (current) => planUpdate(current, request));
  }

  /** `traffic/delete`. @throws {RuleError} */
  remove(body: unknown): Promise<void> {
    const keys = parseTrafficKeys(body);
    return this.#change(null, (current) => planDelete(current, keys));
  }

  /**
   * `ports/allocate`: asks the hub for a port and records it.
   *
   * @throws {RuleError} 502 when the hub cannot be reached, 409 when it refuses
   */
  async allocate(): Promise<number> {
    const answer = await this.#ask(MSG.portsAllocate, {});
    const port = answer.port;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RuleError("upstream", "the hub answered without a port");
    }
    await recordOrReturnPort(
      port,
      (type, data) => this.#ask(type, data),
      () =>
        this.#store.exclusive(async () => {
          const next = planAllocated(this.#store.current, port);
          await this.#store.replace(next);
          await this.#applyLive(next);
        }),
    );
    return port;
  }

  /**
   * `ports/release`: returns the port to the hub and drops its forward.
   *
   * @throws {RuleError} 404 when the port is not allocated here, 502 when the hub is unreachable
   */
  async release(port: number): Promise<void> {
    if (!this.#store.current.ports.some((p) => p.port === port)) {
      throw new RuleError("not_found", `port ${port} is not allocated to this tunnel`);
    }
    try {
      await this.#ask(MSG.portsRelease, { port });
    } catch (error) {
      // The hub no longer holds it for us: dropping it here is still right.
      if (!(error instanceof RuleError && error.kind === "conflict")) throw error;
    }
    await this.#store.exclusive(async () => {
      const next = planReleased(this.#store.current, port);
      await this.#store.replace(next);
      await this.#applyLive(next);
    });
    await this.sync().catch((error) => log.warn("rules not synced", { error: String(error) }));
  }

  /**
   * Sends the stored rules to the hub.
   *
   * @throws {RuleError} 409 when the hub refuses them, 502 when it cannot be reached
   */
  async sync(): Promise<void> {
    assertSyncFits(this.#store.current);
    await this.#ask(MSG.rulesSync, syncPayload(this.#store.current));
  }

  #ask(type: string, data: Record<string, unknown>): Promise<Record<string, unknown>> {
    return askHub(this.#session, type, data);
  }

  async #change(request: TrafficRules | null, plan: (current: RuleSet) => RuleSet): Promise<void> {
    await this.#store.exclusive(async () => {
      const previous = this.#store.current;
      const next = plan(previous);
      assertSyncFits(next);
      // Custom certificates are read and checked before anything changes.
      const certs = new Map<string, { cert: string; key: string }>();
      for (const [index, rule] of (request?.https ?? []).entries()) {
        if (!rule.ca || !rule.privateKey) continue;
        try {
          certs.set(
            rule.domain,
            await loadCustomCertificate(rule.ca, rule.privateKey, rule.domain),
          );
        } catch (error) {
          throw new RuleError(
            "invalid",
            `https[${index}] (${rule.domain}): ${(error as Error).message}`,
          );
        }
      }
      const staged: StagedPortMaps = await this.#portmaps.stage(request?.portmaps ?? []);
      try {
        await this.#store.replace(next);
      } catch (error) {
        staged.abort();
        log.error("cannot write the rule set", { error: String(error) });
        throw new RuleError("internal", "cannot write the rule set to the state directory");
      }
      for (const [domain, pair] of certs) this.#customCerts.set(domain, pair);
      await staged.commit(next.portmaps);
      await this.#applyLive(next);
      if (!this.#session) return;
      try {
        await this.sync();
        // The hub routes the new domains now: ACME's HTTP-01 requests can reach us.
        this.#acme.renewDue();
      } catch (error) {
        if (!(error instanceof RuleError) || error.kind !== "conflict") {
          // Unreachable: the hub gets the rules on the next (re)connect.
          log.warn("rules stored; the hub will get them on reconnect", { error: String(error) });
          return;
        }
        await this.#store.replace(previous);
        await (await this.#portmaps.stage([])).commit(previous.portmaps);
        await this.#applyLive(previous);
        throw error;
      }
    });
  }

  async #applyLive(set: RuleSet): Promise<void> {
    const sites = compileSites(set);
    const ports = compilePortRoutes(set);
    for (const domain of [...this.#customCerts.keys()]) {
      const rule = sites.get(domain)?.rule;
      if (!rule?.ca) this.#customCerts.delete(domain);
    }
    // One swap, so a connection arriving meanwhile sees the old or the new rules, never none.
    this.#tables = { sites, ports, tls: this.#tlsRoutes(sites) };
    await this.#ingress.setForwardPorts(ports.keys());
    await this.#acme.want(
      set.https.filter((rule) => rule.secure && rule.useLetsEnc && !rule.ca && !rule.tls)
        .map((rule) => rule.domain),
    );
    this.#refreshTls();
  }

  // Rebuilds the :443 routes after a certificate arrived.
  #refreshTls(): void {
    if (this.#closed) return;
    this.#tables = { ...this.#tables, tls: this.#tlsRoutes(this.#tables.sites) };
  }

  #tlsRoutes(sites: Map<string, CompiledSite>): Map<string, TlsRoute> {
    const tls = new Map<string, TlsRoute>();
    const terminated = new Set<string>();
    for (const [domain, site] of sites) {
      const rule = site.rule;
      if (!rule.secure) continue;
      if (rule.tls && rule.destination !== "") {
        tls.set(domain, {
          kind: "passthrough",
          hostname: rule.destination,
          port: rule.tls,
          allows: site.allows,
        });
        continue;
      }
      const pair = this.#customCerts.get(domain) ??
        (rule.useLetsEnc ? this.#acme.certificate(domain) : undefined);
      if (!pair) continue;
      try {
        this.#terminators.set(domain, pair);
      } catch (error) {
        log.warn("certificate refused", { domain, error: String(error) });
        continue;
      }
      const port = this.#terminators.port(domain);
      if (port === undefined) continue;
      terminated.add(domain);
      tls.set(domain, { kind: "terminate", terminatorPort: port, allows: site.allows });
    }
    this.#terminators.retain(terminated);
    return tls;
  }

  // ---- IngressRoutes ----

  site(domain: string): CompiledSite | undefined {
    return this.#tables.sites.get(domain);
  }

  acmeChallenge(token: string): string | undefined {
    return this.#acme.challenge(token);
  }

  siteEvent(domain: string, event: SiteEvent): void {
    this.#siteObserver?.(domain, event);
  }

  /** Tells `observer` of each site request and unreachable upstream (the agent's metrics). */
  observeSites(observer: (domain: string, event: SiteEvent) => void): void {
    this.#siteObserver = observer;
  }

  tlsRoute(domain: string): TlsRoute | undefined {
    return this.#tables.tls.get(domain);
  }

  portRoute(port: number): PortRoute | undefined {
    return this.#tables.ports.get(port);
  }

  expectTerminated(localPort: number, client: ClientAddress): () => void {
    return this.#terminators.expect(localPort, client);
  }

  /**
   * Renews every ACME certificate due at `now` (the renewal timer calls this twice a day);
   * tests pass a future time to force a renewal.
   */
  renewCertificates(now = Date.now()): void {
    this.#acme.renewDue(now);
  }

  /** The certificate currently served for an ACME site (PEM chain), if any. */
  acmeCertificate(domain: string): string | undefined {
    return this.#acme.certificate(domain)?.cert;
  }

  /** Waits for certificate issuances under way (tests). */
  certificatesSettled(): Promise<void> {
    return this.#acme.settled();
  }

  /** Stops every listener and connection; resolves once every port is free again. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#acme.close();
    await Promise.all([this.#ingress.close(), this.#terminators.close(), this.#portmaps.close()]);
  }
}
