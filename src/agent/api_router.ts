// The agent's local API route table: the Olm routes and the Packetriot routes on one router,
// served on every listener, each over its narrow backend (src/api/backend.ts).

import { type ConnectDefaults, olmRoutes, packetriotRoutes, Router } from "../api/mod.ts";
import { goArch, type TrafficEngine } from "../rules/engine.ts";
import type { Agent } from "./agent.ts";
import { installedVersion, runtimeVersion } from "./update.ts";

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
  const versions = {
    version: installedVersion(),
    runtimeVersion: runtimeVersion(),
    arch: goArch(),
  };
  return new Router([
    ...olmRoutes(agent, defaults),
    ...(rules ? packetriotRoutes(agent.packetriotSession(), rules, versions) : []),
  ]);
}
