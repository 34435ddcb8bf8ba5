// Where a port map may lead: the hub dials outside destinations for agents, so it must never
// be a way into the hub's own networks. Refused: the tunnel network (isolation between
// agents), loopback and unspecified addresses, link-local ones (169.254.0.0/16, fe80::/10:
// cloud metadata services live there), every address of the hub's own interfaces (read
// again for each request, so an address added later is covered), and the networks the
// operator lists with `--portmap-deny`. IPv4-mapped IPv6 addresses count as their IPv4.

import { type Cidr, cidrContains, parseCidr, parseIp } from "../net/mod.ts";

const ALWAYS_DENIED: readonly Cidr[] = [
  "127.0.0.0/8",
  "0.0.0.0/8",
  "169.254.0.0/16",
  "::1/128",
  "::/128",
  "fe80::/10",
].map((text) => parseCidr(text)!);

/** The addresses of this host's interfaces. */
export function localInterfaceAddresses(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const entry of Deno.networkInterfaces()) {
    const bytes = parseIp(entry.address.split("%")[0]);
    if (bytes) out.push(bytes);
  }
  return out;
}

export class DestinationPolicy {
  constructor(
    readonly tunnelNetwork: Cidr,
    readonly denied: readonly Cidr[] = [],
    readonly ownAddresses: () => Uint8Array[] = localInterfaceAddresses,
  ) {}

  /** Why `address` may not be dialled, or null when it may. */
  refusal(address: Uint8Array): string | null {
    const ip = unmapped(address);
    if (cidrContains(this.tunnelNetwork, ip)) return "inside the tunnel network";
    if (ALWAYS_DENIED.some((network) => cidrContains(network, ip))) {
      return "a loopback, unspecified or link-local address";
    }
    if (this.ownAddresses().some((own) => equalBytes(unmapped(own), ip))) {
      return "one of the hub's own addresses";
    }
    if (this.denied.some((network) => cidrContains(network, ip))) {
      return "in a network the hub's operator denies";
    }
    return null;
  }
}

/** `::ffff:a.b.c.d` as `a.b.c.d`; anything else unchanged. */
function unmapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16) return bytes;
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
