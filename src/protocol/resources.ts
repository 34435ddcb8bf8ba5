// Private resources on the control channel (docs/private-resources.md), shared by the hub and
// the agent: alias names, the hub's message telling a site agent which clients may reach what,
// and the port at which a site answers the in-tunnel RTT probe.

import { z } from "../schema/mod.ts";
import { parseHostPort, parseIp } from "../net/mod.ts";

/** `burrow/site/clients`: hub -> site agent, the whole set each time (not a delta). */
export const SITE_CLIENTS = "burrow/site/clients";

/**
 * The `serverPort` the hub announces for an agent acting as a site; the site answers the
 * in-tunnel probe at its tunnel address on this port + 1, as the hub does on its own.
 */
export const SITE_SERVER_PORT = 51820;

/** One client a site serves: its key, its tunnel address and what it may reach there. */
export interface SiteClient {
  publicKey: string;
  /** The client's tunnel address (no prefix). */
  tunnelIP: string;
  /** Where the site sends to this client: the hub's relay. */
  endpoint: string;
  /** The client's direct endpoint, when both hole-punch: the site sends probes there. */
  directEndpoint?: string;
  /** CIDRs the client may reach through this site. */
  destinations: string[];
}

export interface SiteClientsMessage {
  clients: SiteClient[];
}

const cidrText = z.string().max(64).regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/);

export const siteClientsSchema = z.object({
  clients: z.array(z.object({
    publicKey: z.string().max(64),
    tunnelIP: z.string().max(64),
    endpoint: z.string().max(300),
    directEndpoint: z.string().max(300).optional(),
    destinations: z.array(cidrText).max(4096),
  })).max(4096),
});

/** Whether `alias` is a hostname, possibly with `*` and `?` wildcards (as Olm's aliases). */
export function isAliasName(alias: string): boolean {
  if (alias.length === 0 || alias.length > 253) return false;
  return alias.replace(/\.$/, "").split(".").every((label) =>
    /^[A-Za-z0-9*?]([A-Za-z0-9*?_-]{0,61}[A-Za-z0-9*?])?$/.test(label)
  );
}

/** A DNS server the client's proxy forwards to (`upstreamDNS` of `/connect`). */
export interface Upstream {
  host: string;
  port: number;
}

/**
 * Parses `upstreamDNS` entries: `IP`, `IP:port` or `[v6]:port` (port 53 when absent).
 *
 * @returns the upstreams, or the first entry that is not one
 */
export function parseUpstreams(entries: readonly string[]): Upstream[] | { bad: string } {
  const out: Upstream[] = [];
  for (const entry of entries) {
    const hostPort = parseHostPort(entry);
    if (hostPort && parseIp(hostPort.host)) out.push(hostPort);
    else if (parseIp(entry)) out.push({ host: entry, port: 53 });
    else return { bad: entry };
  }
  return out;
}
