// IPv6 inside the tunnel, for sites' IPv6 destinations. The hub hands out IPv4 tunnel addresses
// only, so an agent that needs IPv6 derives its address from its IPv4 one: a fixed unique-local
// /96 with the IPv4 address as its last 32 bits (100.89.128.3 -> fd62:7572:726f::6459:8003).
// Client and site derive it the same way, so no message has to carry it, and it is as unique as
// the IPv4 address. A client holds its address with the /96 (the prefix route brings replies);
// a site allows a client's /128 on that client's peer only while it grants an IPv6 destination.
// Pure.

import { formatIp, parseCidr, parseIp } from "../net/mod.ts";

/** The unique-local prefix (fd00::/8, "bur" "ro" in ASCII) of derived tunnel addresses. */
export const TUNNEL_IPV6_PREFIX = "fd62:7572:726f::/96";

/** The IPv6 tunnel address of the agent whose IPv4 tunnel address is `ipv4`, or null. */
export function tunnelIpv6Of(ipv4: string): string | null {
  const v4 = parseIp(ipv4.split("/")[0]);
  if (v4?.length !== 4) return null;
  const bytes = parseCidr(TUNNEL_IPV6_PREFIX)!.bytes.slice();
  bytes.set(v4, 12);
  return formatIp(bytes);
}

/** Whether any of `cidrs` (CIDRs or addresses) is IPv6. */
export function hasIpv6(cidrs: readonly string[]): boolean {
  return cidrs.some((text) => parseCidr(text)?.bytes.length === 16);
}

/**
 * What a site allows from a client's peer: its IPv4 tunnel address, and its derived IPv6 one
 * while one of its destinations is IPv6.
 */
export function clientAllowedIps(client: {
  tunnelIP: string;
  destinations: readonly string[];
}): string[] {
  const v6 = hasIpv6(client.destinations) ? tunnelIpv6Of(client.tunnelIP) : null;
  return [`${client.tunnelIP}/32`, ...(v6 ? [`${v6}/128`] : [])];
}
