// Firewall rules of a traffic rule (PROTOCOL.md section 4): checked in `sequence` order (ties
// and 0 keep array order), first match wins; with no match a list holding any `allow` drops,
// otherwise it allows. Compiled once, then asked per connection by the hub and the agent.

import { type Cidr, cidrContains, parseCidr, parseIp } from "../net/mod.ts";

export interface FirewallRuleInput {
  sequence?: number | null;
  action: "allow" | "drop";
  network: string;
}

/** Answers whether a client address may pass. */
export type FirewallCheck = (address: Uint8Array) => boolean;

/**
 * Compiles a rule list once.
 *
 * @throws {TypeError} when a network cannot be parsed (fail closed: refuse the configuration)
 */
export function compileFirewall(
  rules: readonly FirewallRuleInput[] | null | undefined,
): FirewallCheck {
  const list = (rules ?? []).map((rule, index) => {
    const network = parseCidr(rule.network);
    if (!network) {
      throw new TypeError(`Cannot compile firewall: bad network, received ${rule.network}`);
    }
    return { order: rule.sequence ?? 0, index, allow: rule.action === "allow", network };
  });
  list.sort((a, b) => a.order - b.order || a.index - b.index);
  const compiled: { allow: boolean; network: Cidr }[] = list;
  const fallback = !compiled.some((rule) => rule.allow);
  return (address) => {
    const normalized = unmapV4(address);
    for (const rule of compiled) {
      if (cidrContains(rule.network, normalized)) return rule.allow;
    }
    return fallback;
  };
}

/** Whether the address in text form passes; unparsable addresses never pass. */
export function firewallAllows(check: FirewallCheck, address: string): boolean {
  const bytes = parseIp(address);
  return bytes !== null && check(bytes);
}

// An IPv4 client seen on a dual-stack socket arrives as ::ffff:a.b.c.d; rules name it as IPv4.
function unmapV4(address: Uint8Array): Uint8Array {
  if (address.length !== 16) return address;
  for (let i = 0; i < 10; i++) if (address[i] !== 0) return address;
  if (address[10] !== 0xff || address[11] !== 0xff) return address;
  return address.slice(12);
}
