// The live tables the data plane reads per connection, compiled once per rule change: each
// site with its firewall and upstream, each forward with its firewall (a rule without a
// firewall allows everyone).

import { compileFirewall, type FirewallCheck, type PortRule } from "../protocol/mod.ts";
import { type CompiledSite, upstreamOf } from "./site_routing.ts";
import type { PortRoute, TlsRoute } from "./tunnel_listeners.ts";
import { isForward, type RuleSet } from "./rule_store.ts";

/** What the ingress asks per connection; swapped whole on every change. */
export interface LiveTables {
  sites: Map<string, CompiledSite>;
  tls: Map<string, TlsRoute>;
  ports: Map<number, PortRoute>;
}

const allowAll: FirewallCheck = () => true;

function compileRules(rules: readonly { firewall?: PortRule["firewall"] }[]): FirewallCheck[] {
  return rules.map((rule) =>
    rule.firewall && rule.firewall.length ? compileFirewall(rule.firewall) : allowAll
  );
}

/** Every site of `set` by domain. */
export function compileSites(set: RuleSet): Map<string, CompiledSite> {
  const sites = new Map<string, CompiledSite>();
  const siteChecks = compileRules(set.https);
  set.https.forEach((rule, index) => {
    sites.set(rule.domain, { rule, allows: siteChecks[index], upstream: upstreamOf(rule) });
  });
  return sites;
}

/** Every forward of `set` by its allocated port (bare allocations have none). */
export function compilePortRoutes(set: RuleSet): Map<number, PortRoute> {
  const ports = new Map<number, PortRoute>();
  const portChecks = compileRules(set.ports);
  set.ports.forEach((rule, index) => {
    if (!isForward(rule)) return;
    ports.set(rule.port, {
      hostname: rule.destination,
      port: rule.dstPort,
      allows: portChecks[index],
    });
  });
  return ports;
}
