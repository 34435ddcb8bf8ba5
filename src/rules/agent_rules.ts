// Joins the traffic engine to the running agent: the agent's hub session carries the burrow
// requests, every (re)registration moves the listeners to the tunnel address (admitting only
// the hub's tunnel address) and syncs the rules, and port maps dial the hub's tunnel address.

import { log } from "../log/mod.ts";
import { dialPortMap } from "./portmap_dialer.ts";
import type { AcmeOptions } from "./certificates.ts";
import { TrafficEngine } from "./engine.ts";
import type { RulesSession } from "./hub_link.ts";

/** What the rules need from src/agent/agent.ts's Agent. */
export interface AgentForRules {
  readonly stateDir: string;
  request(
    type: string,
    data?: Record<string, unknown>,
    timeoutMs?: number,
  ): Promise<{ type: string; data: unknown }>;
  onRegistered(
    listener: (event: { tunnelIP: string; hubAddress: string | undefined }) => void | Promise<void>,
  ): () => void;
  /**
   * The hub's tunnel address as of the last registration (its site, matched by the hub's
   * WireGuard key: never just the first peer, since other agents are peers too).
   */
  hubAddress(): string | undefined;
}

/** Request failures that mean "no answer", not "the hub said no". */
const UNREACHABLE_CODES = new Set(["not_connected", "timeout", "closed", "disconnected"]);

/** The agent's session as the engine asks it. */
export function rulesSessionOf(agent: AgentForRules): RulesSession {
  return {
    async request(type, data) {
      try {
        const frame = await agent.request(type, data);
        const answer = frame.data;
        return answer !== null && typeof answer === "object"
          ? answer as Record<string, unknown>
          : {};
      } catch (error) {
        const code = (error as { code?: unknown })?.code;
        if (typeof code === "string" && UNREACHABLE_CODES.has(code)) {
          throw new Error((error as Error).message);
        }
        throw error;
      }
    },
  };
}

/**
 * Starts the rules for `agent`: restored from its state directory, synced on every
 * registration.
 *
 * @returns the engine and a `close` that stops it and unhooks it from the agent
 */
export async function startAgentRules(
  agent: AgentForRules,
  acme: AcmeOptions = {},
): Promise<{ engine: TrafficEngine; close(): Promise<void> }> {
  const engine = await TrafficEngine.start({
    stateDir: agent.stateDir,
    acme,
    portMapDialer: (request) => {
      const hubAddress = agent.hubAddress();
      if (!hubAddress) return Promise.reject(new Error("not registered with the hub"));
      return dialPortMap({ hubAddress, ...request });
    },
  });
  engine.setSession(rulesSessionOf(agent));
  const unhook = agent.onRegistered(async (event) => {
    try {
      await engine.onRegistered(event.tunnelIP, event.hubAddress);
    } catch (error) {
      log.warn("rules not applied after registration", { error: String(error) });
    }
  });
  return {
    engine,
    close: () => {
      unhook();
      return engine.close();
    },
  };
}
