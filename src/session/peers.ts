// The session's view of its peers (one per site): configuration merged from the hub's
// messages plus health measured by the RTT probe. Pure: time comes in as arguments.

import { parseCidr, parseHostPort, parseIp } from "../net/mod.ts";
import type { PeerStatusJson } from "../protocol/mod.ts";
import type { Site } from "./hub_messages.ts";

// One peer as `GET /status` reports it: the wire shape lives in protocol/ (the client reads it).
export type { PeerStatusJson };

/** Go's zero time in RFC 3339, what Olm reports for a peer never seen. */
export const NEVER_SEEN = "0001-01-01T00:00:00Z";

interface PeerEntry {
  site: Site;
  /** Endpoint in use: the site's own, or its relay's after `olm/wg/peer/relay`. */
  endpoint: string;
  /** Whether `endpoint` is the hub's relay (the real path, not a wish). */
  isRelay: boolean;
  /** Whether the last test of the direct path succeeded. */
  holepunchConnected: boolean;
  rttNs: number;
  /** Wall-clock ms of the last probe reply; null when never answered. */
  lastSeenMs: number | null;
}

/**
 * The networks routed to a site: its server address plus remote subnets and alias addresses.
 * Entries that are not addresses or CIDRs are dropped.
 */
export function allowedIpsOf(site: Site): string[] {
  const out = new Set<string>();
  const add = (text: string) => {
    if (text.includes("/")) {
      if (parseCidr(text)) out.add(text);
    } else {
      const ip = parseIp(text);
      if (ip) out.add(`${text}/${ip.length === 4 ? 32 : 128}`);
    }
  };
  add(site.serverIP);
  for (const subnet of site.remoteSubnets) add(subnet);
  for (const alias of site.aliases) add(alias.aliasAddress);
  return [...out];
}

/** `relayEndpoint` may be a bare host or host:port; `relayPort` wins when given. */
export function relayEndpointOf(relayEndpoint: string, relayPort: number | undefined): string {
  const parsed = parseHostPort(relayEndpoint);
  const host = parsed ? parsed.host : relayEndpoint;
  const port = relayPort ?? parsed?.port ?? 21820;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Whether a site's configured endpoint is its relay (the hub's relay port). */
export function endpointIsRelay(site: Pick<Site, "endpoint" | "relayEndpoint">): boolean {
  return Boolean(site.relayEndpoint) && site.endpoint === site.relayEndpoint;
}

/**
 * The direct endpoint a site offers besides its relay, or null: a site with both starts on the
 * relay and moves to the direct path once a test shows it works (src/agent/direct_paths.ts).
 */
export function directCandidate(site: Pick<Site, "endpoint" | "relayEndpoint">): string | null {
  return site.relayEndpoint && site.endpoint && site.endpoint !== site.relayEndpoint
    ? site.endpoint
    : null;
}

/** The endpoint a new peer starts on: its relay when it has one, else its endpoint. */
function startingEndpoint(site: Site): string {
  return site.relayEndpoint ? relayEndpointOf(site.relayEndpoint, undefined) : site.endpoint;
}

export class PeerTable {
  readonly #peers = new Map<number, PeerEntry>();

  get size(): number {
    return this.#peers.size;
  }

  sites(): Site[] {
    return [...this.#peers.values()].map((p) => p.site);
  }

  get(siteId: number): Site | undefined {
    return this.#peers.get(siteId)?.site;
  }

  endpointOf(siteId: number): string | undefined {
    return this.#peers.get(siteId)?.endpoint;
  }

  /** Adds or replaces a site; health is kept when the site was already known. */
  upsert(site: Site): void {
    const old = this.#peers.get(site.siteId);
    // A known peer keeps the path it is on while its direct endpoint stays the same.
    const keep = old && old.site.endpoint === site.endpoint &&
      old.site.relayEndpoint === site.relayEndpoint;
    this.#peers.set(site.siteId, {
      site,
      endpoint: keep ? old.endpoint : startingEndpoint(site),
      isRelay: keep ? old.isRelay : Boolean(site.relayEndpoint),
      holepunchConnected: keep ? old.holepunchConnected : false,
      rttNs: old?.rttNs ?? 0,
      lastSeenMs: old?.lastSeenMs ?? null,
    });
  }

  /** Merges a partial update field by field; returns the merged site, or undefined if unknown. */
  update(patch: Partial<Site> & { siteId: number }): Site | undefined {
    const entry = this.#peers.get(patch.siteId);
    if (!entry) return undefined;
    const merged: Site = { ...entry.site };
    for (const [key, value] of Object.entries(patch)) {
      if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
    }
    const before = entry.site;
    entry.site = merged;
    if (merged.endpoint !== before.endpoint || merged.relayEndpoint !== before.relayEndpoint) {
      // A new direct endpoint (the peer changed network): back to the relay until tested, or
      // straight to it when the site has no relay.
      entry.endpoint = startingEndpoint(merged);
      entry.isRelay = Boolean(merged.relayEndpoint);
      entry.holepunchConnected = false;
    }
    return merged;
  }

  remove(siteId: number): Site | undefined {
    const entry = this.#peers.get(siteId);
    this.#peers.delete(siteId);
    return entry?.site;
  }

  /** Whether the site's traffic goes through its relay now (undefined: unknown site). */
  relayed(siteId: number): boolean | undefined {
    return this.#peers.get(siteId)?.isRelay;
  }

  /** Records the result of the last direct-path test of a site. */
  setTested(siteId: number, ok: boolean): void {
    const entry = this.#peers.get(siteId);
    if (entry) entry.holepunchConnected = ok;
  }

  setRoute(siteId: number, endpoint: string, isRelay: boolean): boolean {
    const entry = this.#peers.get(siteId);
    if (!entry) return false;
    entry.endpoint = endpoint;
    entry.isRelay = isRelay;
    return true;
  }

  /** Records a probe reply from `address:port`; returns the site it belongs to. */
  recordReply(address: string, port: number, rttNs: number, nowMs: number): number | undefined {
    for (const [siteId, entry] of this.#peers) {
      if (entry.site.serverIP === address && entry.site.serverPort + 1 === port) {
        entry.rttNs = Math.max(1, Math.round(rttNs));
        entry.lastSeenMs = nowMs;
        return siteId;
      }
    }
    return undefined;
  }

  /** Where each peer's probe goes: serverIP and serverPort + 1. */
  probeTargets(): { siteId: number; address: string; port: number }[] {
    return [...this.#peers.entries()].map(([siteId, e]) => ({
      siteId,
      address: e.site.serverIP,
      port: e.site.serverPort + 1,
    }));
  }

  /**
   * The `peers` object of `GET /status`, keyed by site id. A peer is connected when the
   * tunnel is up (`tunnelUp`) and it answered a probe within `timeoutMs`: a stopped or
   * terminated session has no connected peer, however recent its last answer.
   */
  toStatus(nowMs: number, timeoutMs: number, tunnelUp = true): Record<string, PeerStatusJson> {
    const out: Record<string, PeerStatusJson> = {};
    for (const [siteId, e] of this.#peers) {
      const connected = tunnelUp && e.lastSeenMs !== null && nowMs - e.lastSeenMs <= timeoutMs;
      out[String(siteId)] = {
        siteId,
        name: e.site.name,
        connected,
        rtt: connected ? e.rttNs : 0,
        lastSeen: e.lastSeenMs === null ? NEVER_SEEN : new Date(e.lastSeenMs).toISOString(),
        endpoint: e.endpoint,
        isRelay: e.isRelay,
        peerAddress: e.site.serverIP,
        holepunchConnected: e.holepunchConnected,
      };
    }
    return out;
  }
}

/**
 * The hub's tunnel address among the sites of an `olm/wg/connect`: the `serverIP` of the site
 * whose key is the exit node's (the hub's WireGuard key from the login). Other agents (sites,
 * clients reaching this site) are peers too and may come first, so order decides nothing
 * while the login named the hub's key. Only a login that named no exit node falls back to the
 * first site of the connect, the one the hub lists as its own.
 *
 * @returns the address, or undefined when no site is the hub's (nothing is trusted then)
 */
export function hubSiteAddress(
  sites: readonly Pick<Site, "publicKey" | "serverIP">[],
  exitNodeKey: string | undefined,
): string | undefined {
  const site = exitNodeKey === undefined
    ? sites[0]
    : sites.find((s) => s.publicKey === exitNodeKey);
  return site?.serverIP || undefined;
}
