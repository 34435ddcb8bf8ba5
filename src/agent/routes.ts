// The agent's route table: the Olm routes and the Packetriot routes on one router, served on
// every listener.

import { Router } from "../api/router.ts";
import { type ConnectDefaults, olmRoutes } from "../api/olm.ts";
import type { Agent } from "./agent.ts";

/**
 * Builds the router for `agent`.
 *
 * PACKETRIOT ROUTES GO HERE: add `...packetriotRoutes(agent)` from src/api/packetriot.ts to
 * the list below (the only line to add).
 */
export function agentRouter(agent: Agent, defaults?: ConnectDefaults): Router {
  return new Router([
    ...olmRoutes(agent, defaults),
  ]);
}
