// What the hub accepts in `burrow/rules/sync` (PROTOCOL.md section 3): the agent's Packetriot
// rule lists, validated by the rules engine's own schemas (src/rules/schema.ts), then reduced
// to what the hub routes by. Certificates, keys and upstream details stay with the agent.

import { z } from "zod";
import {
  parseTrafficRules,
  type PortMapRule as AgentPortMapRule,
  RuleError,
} from "../rules/schema.ts";
import type { FirewallRuleInput } from "../rules/firewall.ts";

/** What the hub keeps of an HTTP site: its domain and firewall. */
export interface HubHttpsRule {
  domain: string;
  firewall: FirewallRuleInput[];
}

/** What the hub keeps of a TCP forward: its allocated port and firewall. */
export interface HubPortRule {
  port: number;
  firewall: FirewallRuleInput[];
}

/**
 * A port map: the destinations the hub's port-map service may dial for this agent (the agent's
 * rule without its label, which only names it for the agent's user).
 */
export type PortMapRule = Omit<AgentPortMapRule, "label">;

/** The part of a sync the hub stores and routes by. */
export interface HubRules {
  https: HubHttpsRule[];
  ports: HubPortRule[];
  portmaps: PortMapRule[];
}

const envelopeSchema = z.looseObject({
  requestId: z.union([z.string().max(128), z.number()]),
  revision: z.number().int().min(0).nullish(),
});

export type SyncResult =
  | { ok: true; requestId: string | number; revision: number; rules: HubRules }
  | { ok: false; requestId: unknown; message: string };

/**
 * Validates a `burrow/rules/sync` payload.
 *
 * @returns the hub's view of the rules, or a message naming the first offending object
 */
export function parseRulesSync(data: unknown): SyncResult {
  const requestId = (data as { requestId?: unknown } | null)?.requestId;
  const envelope = envelopeSchema.safeParse(data);
  if (!envelope.success) return { ok: false, requestId, message: describeIssues(envelope.error) };
  const { https, ports, portmaps } = data as Record<string, unknown>;
  let parsed;
  try {
    parsed = parseTrafficRules({ https, ports, portmaps });
  } catch (error) {
    if (error instanceof RuleError) return { ok: false, requestId, message: error.message };
    throw error;
  }
  return {
    ok: true,
    requestId: envelope.data.requestId,
    revision: envelope.data.revision ?? 0,
    rules: {
      https: parsed.https.map((rule) => ({ domain: rule.domain, firewall: rule.firewall ?? [] })),
      ports: parsed.ports.map((rule) => ({ port: rule.port, firewall: rule.firewall ?? [] })),
      portmaps: parsed.portmaps.map((rule) => ({
        port: rule.port,
        dstPort: rule.dstPort,
        destination: rule.destination,
        transport: rule.transport,
      })),
    },
  };
}

/** Formats zod issues as one line: `olmId: Invalid input ...`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, 3).map((issue) =>
    `${issue.path.join(".") || "body"}: ${issue.message}`
  ).join("; ");
}
