// The rules' side of the conversation with the hub: the session as the rules need it, one
// request turned into a RuleError kind when the hub refuses (conflict) or cannot be reached
// (upstream), and the `burrow/rules/sync` body (no certificate material leaves the agent).

import { RuleError } from "../protocol/mod.ts";
import type { RuleSet } from "./rule_store.ts";

/**
 * The agent's control session as the rules need it. `request` sends a burrow request (the
 * session adds `requestId`) and resolves with the answer's data; it rejects with an error
 * carrying a string `code` when the hub answered `burrow/error`, and with any other error when
 * the hub cannot be reached.
 */
export interface RulesSession {
  request(type: string, data: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** The hub answered, but refused. */
function hubCode(error: unknown): string | null {
  if (error === null || typeof error !== "object") return null;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && !(error instanceof Deno.errors.NotFound) ? code : null;
}

/**
 * Sends one burrow request to the hub.
 *
 * @throws {RuleError} `conflict` when the hub refuses, `upstream` when it cannot be reached
 */
export async function askHub(
  session: RulesSession | null,
  type: string,
  data: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  if (!session) throw new RuleError("upstream", "the tunnel to the hub is not connected");
  try {
    return await session.request(type, data);
  } catch (error) {
    const code = hubCode(error);
    const message = error instanceof Error ? error.message : String(error);
    if (code) throw new RuleError("conflict", `the hub refused: ${message}`);
    throw new RuleError("upstream", `the hub is unreachable: ${message}`);
  }
}

/** The `burrow/rules/sync` body for a rule set: no certificate material leaves the agent. */
export function syncPayload(set: RuleSet): Record<string, unknown> {
  return {
    revision: set.revision,
    https: set.https.map(({ privateKey: _key, ca: _ca, ...rule }) => rule),
    ports: set.ports,
    portmaps: set.portmaps,
  };
}
