// The kernel rules a site agent installs on its own host (docs/private-resources.md, "The
// site"): one nftables table per tunnel interface, replaced whole on every change and deleted
// on exit. Pure: a description of who may reach what in, nftables text out.
//
// After WireGuard decrypted a packet and checked its source against the sending peer (so a
// client can only ever send as its own tunnel address), the table decides:
//   1. from a client, to a destination granted to that client: accepted, and masqueraded to the
//      site's LAN address on the way out, so the LAN needs no route back to any tunnel;
//   2. from a client, to the site's probe port on its tunnel address: accepted (RTT probe);
//   3. anything else from a client (another LAN host, the site itself, another client): dropped,
//      whatever allowed IPs or routes that client set on its own machine;
//   4. nothing from outside starts a connection into the tunnel through the site.
// Traffic from the hub and from other sites' resources (the agent's own client role) is not a
// client's and passes untouched. IPv6 destinations get the same rules for the client's derived
// IPv6 tunnel address (./tunnel_ipv6.ts), only for clients granted one.

import { formatCidr, parseCidr, parseIp } from "../net/mod.ts";
import { tunnelIpv6Of } from "./tunnel_ipv6.ts";

export interface SiteGrant {
  /** The client's tunnel address (no prefix). */
  tunnelIP: string;
  /** CIDRs it may reach. */
  destinations: readonly string[];
}

export interface SiteRulesInput {
  /** The agent's tunnel interface. */
  interfaceName: string;
  /** The site's own tunnel address (probe target). */
  tunnelIP: string;
  probePort: number;
  grants: readonly SiteGrant[];
}

/** The nftables table name for an interface (letters, digits and `_` only). */
export function siteTableName(interfaceName: string): string {
  return `burrow_site_${interfaceName.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

const v4 = (text: string) => parseIp(text)?.length === 4;
const quote = (name: string) => `"${name.replace(/["\\]/g, "")}"`;

/** The canonical CIDRs of one family (4 or 16 address bytes), sorted. */
function destinationsOf(destinations: readonly string[], family: 4 | 16): string[] {
  const out = new Set<string>();
  for (const text of destinations) {
    const cidr = parseCidr(text);
    if (cidr && cidr.bytes.length === family) out.add(formatCidr(cidr));
  }
  return [...out].sort();
}

/**
 * The whole table as one `nft -f` script: it deletes the previous table (created empty first so
 * the delete never fails) and adds the new one, in one transaction.
 */
export function siteRuleset(input: SiteRulesInput): string {
  const table = siteTableName(input.interfaceName);
  const iface = quote(input.interfaceName);
  const grants = input.grants.filter((g) => v4(g.tunnelIP));
  const clients = [...new Set(grants.map((g) => g.tunnelIP))].sort();
  const lines: string[] = [
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    `  chain input {`,
    `    type filter hook input priority filter - 1; policy accept;`,
    `    iifname ${iface} jump from_tunnel`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter - 1; policy accept;`,
    `    iifname ${iface} jump from_tunnel`,
    `    oifname ${iface} ct state established,related accept`,
    `    oifname ${iface} drop`,
    `  }`,
    `  chain from_tunnel {`,
  ];
  const masquerade: string[] = [];
  const v6Clients = new Set<string>();
  for (const grant of grants) {
    for (const destination of destinationsOf(grant.destinations, 4)) {
      lines.push(`    ip saddr ${grant.tunnelIP} ip daddr ${destination} accept`);
      masquerade.push(
        `    ip saddr ${grant.tunnelIP} ip daddr ${destination} oifname != ${iface} masquerade`,
      );
    }
    const v6 = tunnelIpv6Of(grant.tunnelIP)!;
    for (const destination of destinationsOf(grant.destinations, 16)) {
      v6Clients.add(v6);
      lines.push(`    ip6 saddr ${v6} ip6 daddr ${destination} accept`);
      masquerade.push(
        `    ip6 saddr ${v6} ip6 daddr ${destination} oifname != ${iface} masquerade`,
      );
    }
  }
  if (v6Clients.size) lines.push(`    ip6 saddr { ${[...v6Clients].sort().join(", ")} } drop`);
  if (clients.length && v4(input.tunnelIP)) {
    lines.push(
      `    ip saddr { ${
        clients.join(", ")
      } } ip daddr ${input.tunnelIP} udp dport ${input.probePort} accept`,
      `    ip saddr { ${clients.join(", ")} } drop`,
    );
  }
  lines.push(
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    ...masquerade,
    `  }`,
    `}`,
  );
  return lines.join("\n") + "\n";
}

/** The script that removes the table (created empty first so the delete never fails). */
export function siteRulesetRemoval(interfaceName: string): string {
  const table = siteTableName(interfaceName);
  return `table inet ${table} {}\ndelete table inet ${table}\n`;
}
