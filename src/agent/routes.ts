// The agent's route table: the Olm routes and the Packetriot routes on one router, served on
// every listener.

import { Router } from "../api/router.ts";
import { type ConnectDefaults, olmRoutes } from "../api/olm.ts";
import type { Agent } from "./agent.ts";
import { packetriotRoutes } from "../api/packetriot.ts";
import type { TrafficEngine } from "../rules/mod.ts";

/**
 * Builds the router for `agent`.
 *
 * The Packetriot routes need the traffic engine (src/rules/agent_rules.ts, started by the
 * daemon); without one only the Olm routes are served.
 */
export function agentRouter(
  agent: Agent,
  defaults?: ConnectDefaults,
  rules?: TrafficEngine,
): Router {
  return new Router([
    ...olmRoutes(agent, defaults),
    ...(rules ? packetriotRoutes(agent.packetriotSession(), rules) : []),
  ]);
}
