// Direct paths between agents (docs/private-resources.md, "Direct paths"), following the
// session's tunnel:
//   1. endpoint discovery: a sealed announcement from the WireGuard socket to the hub's relay
//      port every 1 s, the interval doubling to 60 s, and at once when peers are added or the
//      tunnel is rebuilt, so the hub learns this agent's NAT mapping and LAN addresses
//   2. as a client, for each site offering a direct endpoint besides its relay: reachability
//      tests from the WireGuard socket (PANGOLIN_TEST_REQ, answered by the other agent); the
//      path monitor (./path_monitor.ts) moves the site's traffic between relay and direct
//   3. as a site, tests toward each client's direct endpoint, which open this side's NAT for
//      the client's (both sides sending at once is what makes hole punching work)
//   4. every agent answers reachability tests on its WireGuard socket, as the hub does; a test
//      from a peer's direct endpoint wakes a path that was probed in turns (./path_monitor.ts)
//   5. rediscovery: a path moved to the relay (perhaps this side's NAT mapping changed) or a
//      change of this host's addresses (it moved to another network) announces again at once,
//      so the hub hands the new mapping to the peers without waiting for the next announcement
//      (up to a minute away); a change of addresses also tests every direct path again at once,
//      since none of them is likely to survive it
// With hole punching off only 4 runs: every path stays relayed.

import { log as rootLog, type Logger } from "../log/mod.ts";
import {
  cidrContains,
  joinHostPort,
  parseCidr,
  parseHostPort,
  parseIp,
  systemResolve,
} from "../net/mod.ts";
import {
  answerTestRequest,
  type Frame,
  sealAnnouncement,
  SITE_CLIENTS,
  siteClientsSchema,
  TEST_NONCE_BYTES,
  testRequest,
  testResponseNonce,
} from "../protocol/mod.ts";
import { directCandidate, type SessionExtension, type TunnelView } from "../session/mod.ts";
import { keyFromBase64 } from "../curve25519/mod.ts";
import { clientAllowedIps } from "../site/mod.ts";
import { PathMonitor, type PathMonitorOptions } from "./path_monitor.ts";

const TICK_MS = 200;
const ANNOUNCE_FIRST_MS = 1000;
const ANNOUNCE_MAX_MS = 60_000;
/** A direct peer's endpoint is set again this often (WireGuard roams to late relayed packets). */
const REASSERT_MS = 2000;
/** As every peer the agent sets (NAT mappings stay open). */
const PERSISTENT_KEEPALIVE_S = 25;
/** How often the host's addresses are compared with the last ones seen. */
const ADDRESS_CHECK_MS = 1000;

export interface DirectPathsOptions {
  /** The agent's WireGuard private key (announcements are sealed with it). */
  privateKey: Uint8Array;
  /** Whether this session hole-punches (`holepunch` of the connection). */
  holepunch: boolean;
  log?: Logger;
  /** Resolves the relay's host when it is a name. @default the system resolver */
  resolveHost?: (host: string) => Promise<string | null>;
  /** Faster timings for tests. */
  monitor?: Partial<PathMonitorOptions>;
}

interface SitePath {
  candidate: string;
  monitor: PathMonitor;
  reassertAt: number;
}

interface Punch {
  /** The client's direct endpoint. */
  endpoint: string;
  /** Its relay endpoint and allowed IPs (its peer on this site's device). */
  relay: string;
  allowedIps: string[];
  monitor: PathMonitor;
  reassertAt: number;
}

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export class DirectPaths implements SessionExtension {
  readonly #options: DirectPathsOptions;
  readonly #log: Logger;
  #view: TunnelView | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #sites = new Map<number, SitePath>();
  readonly #punches = new Map<string, Punch>();
  /** Outstanding tests by nonce: which monitor and probe they belong to. */
  readonly #probes = new Map<string, { site?: number; punch?: string; id: number }>();
  #announceAt = 0;
  #announceEvery = ANNOUNCE_FIRST_MS;
  /** This host's addresses when last looked at (joined), and when to look again. */
  #addresses: string | null = null;
  #addressCheckAt = 0;

  constructor(options: DirectPathsOptions) {
    this.#options = options;
    this.#log = (options.log ?? rootLog).with({ component: "paths" });
  }

  peersChanged(view: TunnelView): Promise<void> {
    const rebuilt = this.#view?.tunnel !== view.tunnel;
    this.#view = view;
    if (!this.#options.holepunch) return Promise.resolve();
    const now = Date.now();
    let added = rebuilt;
    const present = new Set<number>();
    for (const site of view.sites) {
      const candidate = directCandidate(site);
      if (!candidate || !parseHostPort(candidate) || !parseIp(parseHostPort(candidate)!.host)) {
        continue;
      }
      present.add(site.siteId);
      const known = this.#sites.get(site.siteId);
      if (known?.candidate === candidate) continue;
      // New, or a new mapping (the site changed network): test from the start, relayed.
      this.#log.debug("testing a direct path", { siteId: site.siteId, candidate });
      this.#sites.set(site.siteId, {
        candidate,
        monitor: new PathMonitor(now, this.#options.monitor, "client"),
        reassertAt: 0,
      });
      if (!known) added = true;
    }
    for (const siteId of [...this.#sites.keys()]) {
      if (!present.has(siteId)) this.#sites.delete(siteId);
    }
    if (added) this.#announceSoon(now);
    this.#timer ??= setInterval(() => this.#tick(), TICK_MS);
    return Promise.resolve();
  }

  /** Reads the site's clients for their direct endpoints; never consumes the message. */
  handle(frame: Frame): Promise<boolean> {
    if (frame.type !== SITE_CLIENTS || !this.#options.holepunch) return Promise.resolve(false);
    const parsed = siteClientsSchema.safeParse(frame.data);
    if (!parsed.success) return Promise.resolve(false);
    const now = Date.now();
    const present = new Set<string>();
    for (const client of parsed.data.clients) {
      const endpoint = client.directEndpoint;
      if (!endpoint || !parseIp(parseHostPort(endpoint)?.host ?? "")) continue;
      present.add(client.publicKey);
      const allowedIps = clientAllowedIps(client);
      const known = this.#punches.get(client.publicKey);
      if (known?.endpoint === endpoint) {
        known.allowedIps = allowedIps; // a new grant may add the client's IPv6 address
        continue;
      }
      this.#log.debug("punching toward a client", { endpoint });
      this.#punches.set(client.publicKey, {
        endpoint,
        relay: client.endpoint,
        allowedIps,
        monitor: new PathMonitor(now, this.#options.monitor, "site"),
        reassertAt: 0,
      });
    }
    for (const key of [...this.#punches.keys()]) if (!present.has(key)) this.#punches.delete(key);
    return Promise.resolve(false);
  }

  foreignDatagram(data: Uint8Array, from: string, view: TunnelView): void {
    const answer = answerTestRequest(data);
    if (answer) {
      view.tunnel.sendDatagram?.(from, answer).catch(() => {});
      this.#reachedFrom(from);
      return;
    }
    const answered = testResponseNonce(data);
    if (!answered) return;
    const nonce = hex(answered);
    const probe = this.#probes.get(nonce);
    if (!probe) return;
    this.#probes.delete(nonce);
    const now = Date.now();
    if (probe.site !== undefined) {
      const path = this.#sites.get(probe.site);
      if (!path) return;
      const change = path.monitor.answered(probe.id, now);
      view.tested(probe.site, path.monitor.lastTestOk);
      if (change) this.#move(probe.site, change);
    } else if (probe.punch !== undefined) {
      const punch = this.#punches.get(probe.punch);
      const change = punch?.monitor.answered(probe.id, now);
      if (punch && change) this.#moveClient(view, probe.punch, punch, change, now);
    }
  }

  /**
   * A test came in from `from`: when that is a peer's direct endpoint, its path is open from
   * there now (a path probed in turns tests again at once). Tests carry no key, so a forged one
   * costs at most a few probes.
   */
  #reachedFrom(from: string): void {
    const now = Date.now();
    for (const path of this.#sites.values()) {
      if (path.candidate === from) path.monitor.peerReachedUs(now);
    }
    for (const punch of this.#punches.values()) {
      if (punch.endpoint === from) punch.monitor.peerReachedUs(now);
    }
  }

  #announceSoon(now: number): void {
    this.#announceEvery = ANNOUNCE_FIRST_MS;
    this.#announceAt = now;
  }

  #tick(): void {
    const view = this.#view;
    if (!view?.tunnel.sendDatagram) return;
    const now = Date.now();
    if (now >= this.#addressCheckAt) {
      this.#addressCheckAt = now + ADDRESS_CHECK_MS;
      this.#checkAddresses(view, now);
    }
    if (now >= this.#announceAt) {
      this.#announceAt = now + this.#announceEvery;
      this.#announceEvery = Math.min(this.#announceEvery * 2, ANNOUNCE_MAX_MS);
      this.#announce(view).catch((error) =>
        this.#log.debug("cannot announce the endpoint", { error: String(error) })
      );
    }
    for (const [siteId, path] of this.#sites) {
      const { probe, change } = path.monitor.poll(now);
      if (probe !== null || change) view.tested(siteId, path.monitor.lastTestOk);
      if (probe !== null) this.#test(view, path.candidate, { site: siteId, id: probe });
      if (change) {
        this.#move(siteId, change);
        path.reassertAt = now + REASSERT_MS;
        if (change === "relay") this.#announceSoon(now);
      } else if (path.monitor.route === "direct" && now >= path.reassertAt) {
        path.reassertAt = now + REASSERT_MS;
        this.#move(siteId, "direct");
      }
    }
    for (const [key, punch] of this.#punches) {
      const { probe, change } = punch.monitor.poll(now);
      if (probe !== null) this.#test(view, punch.endpoint, { punch: key, id: probe });
      if (change) {
        this.#moveClient(view, key, punch, change, now);
        if (change === "relay") this.#announceSoon(now);
      } else if (punch.monitor.route === "direct" && now >= punch.reassertAt) {
        this.#moveClient(view, key, punch, "direct", now);
      }
    }
    // Tests never answered are forgotten with their monitor's timeout (a few seconds).
    if (this.#probes.size > 1024) this.#probes.clear();
  }

  /**
   * This host's addresses changed (another network, a new lease): the hub must learn the new
   * mapping now, and every direct path is tested again at once.
   */
  #checkAddresses(view: TunnelView, now: number): void {
    const addresses = localAddresses(view).join();
    const before = this.#addresses;
    this.#addresses = addresses;
    if (before === null || before === addresses) return;
    this.#log.info("the host's addresses changed: announcing and testing every path again");
    this.#announceSoon(now);
    for (const path of this.#sites.values()) path.monitor.restart(now);
    for (const punch of this.#punches.values()) punch.monitor.restart(now);
  }

  #test(view: TunnelView, to: string, probe: { site?: number; punch?: string; id: number }) {
    const nonce = crypto.getRandomValues(new Uint8Array(TEST_NONCE_BYTES));
    this.#probes.set(hex(nonce), probe);
    view.tunnel.sendDatagram!(to, testRequest(nonce)).catch(() => {/* UDP: best effort */});
  }

  #move(siteId: number, route: "relay" | "direct"): void {
    const view = this.#view;
    if (!view) return;
    view.useRoute(siteId, route).catch((error) =>
      this.#log.warn("cannot move the peer's path", { siteId, route, error: String(error) })
    );
  }

  /**
   * As a site: a client's peer follows the same decision as the client's side, so neither
   * side's late packets keep the other on the path it left.
   */
  #moveClient(
    view: TunnelView,
    publicKey: string,
    punch: Punch,
    route: "relay" | "direct",
    now: number,
  ): void {
    punch.reassertAt = now + REASSERT_MS;
    const key = keyFromBase64(publicKey);
    if (!key) return;
    view.tunnel.setPeer({
      publicKey: key,
      endpoint: route === "direct" ? punch.endpoint : punch.relay,
      allowedIps: punch.allowedIps,
      persistentKeepaliveS: PERSISTENT_KEEPALIVE_S,
    }).catch((error) =>
      this.#log.warn("cannot move a client's path", { route, error: String(error) })
    );
  }

  async #announce(view: TunnelView): Promise<void> {
    const node = view.exitNode;
    const hubKey = node ? keyFromBase64(node.publicKey) : null;
    if (!node || !hubKey) return;
    const split = parseHostPort(node.relayEndpoint);
    if (!split) return;
    let host: string | null = split.host;
    if (!parseIp(host)) {
      host = this.#options.resolveHost
        ? await this.#options.resolveHost(host)
        : await systemResolve(host);
    }
    if (!host) return;
    const datagram = sealAnnouncement(this.#options.privateKey, hubKey, {
      timestampMs: Date.now(),
      local: localAddresses(view),
    });
    await view.tunnel.sendDatagram!(joinHostPort(host, split.port), datagram);
  }

  tunnelClosing(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#view = null;
    this.#sites.clear();
    this.#punches.clear();
    this.#probes.clear();
    this.#addresses = null;
    return Promise.resolve();
  }
}

/** This host's IPv4 addresses (not loopback, not the tunnel's) with the WireGuard port. */
function localAddresses(view: TunnelView): string[] {
  const port = view.tunnel.listenPort;
  if (!port) return [];
  const tunnel = parseCidr(view.tunnelIP);
  const utility = parseCidr(view.utilitySubnet);
  const out: string[] = [];
  for (const entry of Deno.networkInterfaces()) {
    if (entry.family !== "IPv4" || entry.name === view.interfaceName) continue;
    const bytes = parseIp(entry.address);
    if (!bytes || bytes[0] === 127) continue;
    if (tunnel && cidrContains(tunnel, bytes)) continue;
    if (utility && cidrContains(utility, bytes)) continue;
    out.push(joinHostPort(entry.address, port));
  }
  return out;
}
