// What the hub accepts in `burrow/rules/sync` (PROTOCOL.md section 3): the Packetriot rule
// objects, validated here only as far as the hub uses them (domains, ports, firewalls, port
// maps); the agent's own fields pass through untouched and are stored verbatim.

import { z } from "zod";
import { parseCidr } from "../net/ip.ts";

const MAX_RULES = 1000;

const firewallRule = z.object({
  sequence: z.number().int().min(0).optional(),
  action: z.enum(["allow", "drop"]),
  network: z.string().refine((text) => parseCidr(text) !== null, {
    message: "network must be an address or CIDR",
  }),
});

// A DNS name: labels of letters, digits and hyphens, 253 characters at most.
const domainName = z.string().max(253).transform((text) => text.toLowerCase().replace(/\.$/, ""))
  .refine(
    (text) => /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/.test(text),
    { message: "domain must be a DNS name such as app.example.com" },
  );

const port = z.number().int().min(1).max(65535);

export const httpsRuleSchema = z.looseObject({
  domain: domainName,
  firewall: z.array(firewallRule).max(MAX_RULES).nullish(),
});

export const portRuleSchema = z.looseObject({
  port,
  firewall: z.array(firewallRule).max(MAX_RULES).nullish(),
});

export const portMapRuleSchema = z.looseObject({
  port: port,
  dstPort: port,
  destination: z.string().max(253).default(""),
  transport: z.enum(["tcp", "udp"]).default("tcp"),
  label: z.string().max(256).optional(),
});

export const rulesSyncSchema = z.object({
  requestId: z.union([z.string().max(128), z.number()]),
  revision: z.number().int().min(0).default(0),
  https: z.array(httpsRuleSchema).max(MAX_RULES).nullish().transform((list) => list ?? []),
  ports: z.array(portRuleSchema).max(MAX_RULES).nullish().transform((list) => list ?? []),
  portmaps: z.array(portMapRuleSchema).max(MAX_RULES).nullish().transform((list) => list ?? []),
});

export type FirewallRule = z.infer<typeof firewallRule>;
export type HttpsRule = z.infer<typeof httpsRuleSchema>;
export type PortRule = z.infer<typeof portRuleSchema>;
export type PortMapRule = z.infer<typeof portMapRuleSchema>;
export type RulesSync = z.infer<typeof rulesSyncSchema>;

/** The part of a sync the hub stores and routes by. */
export interface HubRules {
  https: HttpsRule[];
  ports: PortRule[];
  portmaps: PortMapRule[];
}

/**
 * Checks a sync for conflicts inside itself (the same domain or port twice).
 *
 * @returns a message for the agent, or null when the set is consistent
 */
export function selfConflict(rules: HubRules): string | null {
  const domains = new Set<string>();
  for (const rule of rules.https) {
    if (domains.has(rule.domain)) return `domain ${rule.domain} appears twice`;
    domains.add(rule.domain);
  }
  const ports = new Set<number>();
  for (const rule of rules.ports) {
    if (ports.has(rule.port)) return `port ${rule.port} appears twice`;
    ports.add(rule.port);
  }
  const mapped = new Set<string>();
  for (const rule of rules.portmaps) {
    const key = `${rule.transport}/${rule.port}`;
    if (mapped.has(key)) return `port map on local ${key} appears twice`;
    mapped.add(key);
  }
  return null;
}

/** Formats zod issues as one line: `https.0.domain: domain must be ...`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, 3).map((issue) =>
    `${issue.path.join(".") || "body"}: ${issue.message}`
  ).join("; ");
}
