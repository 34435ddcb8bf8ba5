// The hub's routing table for ingress: which agent (by tunnel address) owns each allocated
// port and claimed domain, with its compiled firewall. Rebuilt from the store after every
// change, read per connection, never mutated in place.

import {
  compileFirewall,
  type FirewallCheck,
  type HubPortMapRule,
  type HubRules,
} from "../protocol/mod.ts";
import { log } from "../log/mod.ts";
import type { HubStore } from "./client_store.ts";

export interface AgentRoute {
  clientId: string;
  /** The agent's tunnel address, null until it first registered. */
  tunnelIP: string | null;
  /** Whether a client address may pass, from the rule's firewall list. */
  allows: FirewallCheck;
}

export interface RouteTable {
  ports: ReadonlyMap<number, AgentRoute>;
  domains: ReadonlyMap<string, AgentRoute>;
  /** Port maps each agent synced, by client id: the only destinations the hub dials for it. */
  portmaps: ReadonlyMap<string, readonly HubPortMapRule[]>;
  /** Client id by tunnel address (who is calling through the tunnel). */
  clientsByTunnelIP: ReadonlyMap<string, string>;
}

const allowAll: FirewallCheck = () => true;
const denyAll: FirewallCheck = () => false;

export const EMPTY_ROUTES: RouteTable = {
  ports: new Map(),
  domains: new Map(),
  portmaps: new Map(),
  clientsByTunnelIP: new Map(),
};

/** Reads the store into a fresh table. */
export function buildRoutes(store: HubStore): RouteTable {
  const clients = new Map(store.listClients().map((client) => [client.id, client]));
  const rulesByClient = new Map<string, HubRules>();
  for (const id of clients.keys()) {
    const stored = store.rulesOf(id);
    if (!stored) continue;
    try {
      rulesByClient.set(id, JSON.parse(stored.body) as HubRules);
    } catch {
      log.error("stored rules are not JSON; ignoring them", { clientId: id });
    }
  }
  const compile = (clientId: string, rules: Parameters<typeof compileFirewall>[0]) => {
    try {
      return rules && rules.length ? compileFirewall(rules) : allowAll;
    } catch (error) {
      // Validated on sync, so this is a damaged store: fail closed.
      log.error("firewall does not compile; refusing all traffic for it", { clientId, error });
      return denyAll;
    }
  };

  const routeTo = (clientId: string, firewall: Parameters<typeof compile>[1]): AgentRoute => ({
    clientId,
    tunnelIP: clients.get(clientId)?.tunnelIP ?? null,
    allows: compile(clientId, firewall),
  });

  const ports = new Map<number, AgentRoute>();
  for (const { port, clientId } of store.allPorts()) {
    const rule = rulesByClient.get(clientId)?.ports?.find((r) => r.port === port);
    ports.set(port, routeTo(clientId, rule?.firewall));
  }
  const domains = new Map<string, AgentRoute>();
  for (const { domain, clientId } of store.allDomains()) {
    const rule = rulesByClient.get(clientId)?.https?.find((r) => r.domain === domain);
    domains.set(domain, routeTo(clientId, rule?.firewall));
  }
  const portmaps = new Map<string, readonly HubPortMapRule[]>();
  for (const [clientId, rules] of rulesByClient) portmaps.set(clientId, rules.portmaps ?? []);
  const clientsByTunnelIP = new Map<string, string>();
  for (const client of clients.values()) {
    if (client.tunnelIP) clientsByTunnelIP.set(client.tunnelIP, client.id);
  }
  return { ports, domains, portmaps, clientsByTunnelIP };
}
