// The door of rules/: the agent's traffic-rule engine (sites, forwards, port maps, ACME, the
// agent's side of port-map dialing) as the agent's composition root and the local API use it.

export { type AgentForRules, startAgentRules } from "./agent_rules.ts";
export { TrafficEngine, type TrafficEngineOptions } from "./engine.ts";
export { flowId } from "./flow_id.ts";
export { goArch } from "./go_arch.ts";
export type { HealthEntry } from "./health.ts";
export type { SiteEvent } from "./site_routing.ts";
export type { RulesSession } from "./hub_link.ts";
export { dialPortMap, type DialPortMapOptions } from "./portmap_dialer.ts";
