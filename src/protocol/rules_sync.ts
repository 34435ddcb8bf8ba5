// The traffic rules agent, hub and API share: the Packetriot traffic-rule objects
// (spec/packetriot-client-api.txt: `https`, `ports`, `portmaps`) as strict schemas (src/schema), the one
// validator the API, the agent's rule store and the hub use (a request body becomes normalized
// rules or a DomainError naming the offending object), and what the hub accepts and keeps of a
// `burrow/rules/sync` (PROTOCOL.md section 3).

import { z } from "../schema/mod.ts";
import { DomainError, type FaultKind, isDomainError } from "../errors/mod.ts";
import { parseCidr, parseIp } from "../net/mod.ts";
import type { FirewallRuleInput } from "./firewall.ts";

/** Upper bound on objects of one kind in one request or rule set. */
export const MAX_RULES_PER_KIND = 1000;

const firewallRuleSchema = z.strictObject({
  sequence: z.number().int().min(0).max(2 ** 31 - 1).nullish(),
  action: z.enum(["allow", "drop"], { message: 'action must be "allow" or "drop"' }),
  network: z.string().max(64).refine((text) => parseCidr(text) !== null, {
    message: "network must be an IP address or CIDR such as 71.1.2.3/32",
  }),
});

// A DNS name: letters, digits and hyphens per label, at least two labels.
const DOMAIN_PATTERN = /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/;
const domainSchema = z.string().max(253).transform((text) => text.toLowerCase().replace(/\.$/, ""))
  .refine((text) => DOMAIN_PATTERN.test(text), {
    message: "domain must be a DNS name such as app.example.com",
  });

// A host to connect to: an IP address or a DNS name (a single label like `localhost` too).
const HOST_PATTERN = /^(?!-)[a-zA-Z0-9_-]{1,63}(?<!-)(\.(?!-)[a-zA-Z0-9_-]{1,63}(?<!-))*\.?$/;
const hostSchema = z.string().max(253).refine(
  (text) => text === "" || parseIp(text) !== null || HOST_PATTERN.test(text),
  { message: "destination must be an IP address or host name" },
);

const portSchema = z.number({ message: "port must be a number" }).int().min(1, {
  message: "port must be 1-65535",
}).max(65535, { message: "port must be 1-65535" });
// 0 means "not set" where the spec allows clearing a field with 0.
const optionalPortSchema = z.number().int().min(0).max(65535, {
  message: "port must be 0-65535",
}).nullish();

const upstreamUrlSchema = z.string().max(2048).refine((text) => {
  if (text === "") return true;
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "" &&
      url.username === "" && url.password === "" && url.search === "" && url.hash === "";
  } catch {
    return false;
  }
}, { message: "upstreamURL must be an http:// or https:// URL without query or credentials" });

const webRootSchema = z.string().max(4096).refine(
  (text) => text === "" || (text.startsWith("/") && !text.includes("\0")),
  { message: "webRoot must be an absolute path" },
);

const pemOrPath = z.string().max(256 * 1024);

/** An HTTP site, keyed by `domain`. */
export const httpsRuleSchema = z.strictObject({
  domain: domainSchema,
  secure: z.boolean().nullish(),
  destination: hostSchema.nullish(),
  port: optionalPortSchema,
  /** A port on `destination` that terminates TLS itself: port 443 is passed through raw. */
  tls: optionalPortSchema,
  webRoot: webRootSchema.nullish(),
  useLetsEnc: z.boolean().nullish(),
  /** Custom certificate chain (PEM text, or a path to a PEM file). */
  ca: pemOrPath.nullish(),
  /** Private key of the custom certificate (PEM text, or a path); never answered back. */
  privateKey: pemOrPath.nullish(),
  firewall: z.array(firewallRuleSchema).max(MAX_RULES_PER_KIND).nullish(),
  redirect: z.boolean().nullish(),
  rewriteHost: z.string().max(253).nullish(),
  upstreamURL: upstreamUrlSchema.nullish(),
});

/** A TCP forward of an allocated port, keyed by `port`. */
export const portRuleSchema = z.strictObject({
  port: portSchema,
  destination: hostSchema.nullish(),
  dstPort: optionalPortSchema,
  firewall: z.array(firewallRuleSchema).max(MAX_RULES_PER_KIND).nullish(),
});

/** A local listener mapped through the hub, keyed by its local `port`. */
export const portMapRuleSchema = z.strictObject({
  port: portSchema,
  dstPort: portSchema,
  destination: hostSchema.nullish(),
  transport: z.enum(["tcp", "udp"], { message: 'transport must be "tcp" or "udp"' }).nullish(),
  label: z.string().max(256).nullish(),
});

// Deletes name rules by key; the other fields may be present (scripts send whole objects) but
// are not checked beyond their shape.
const httpsKeySchema = z.looseObject({ domain: domainSchema });
const portKeySchema = z.looseObject({ port: portSchema });
/** The objects of a delete body (for the API's OpenAPI document). */
export const trafficKeySchemas = { https: httpsKeySchema, port: portKeySchema } as const;

export type FirewallRule = { sequence: number; action: "allow" | "drop"; network: string };

/** A site as stored and answered by `config` (documented fields, defaults filled in). */
export interface HttpsRule {
  domain: string;
  secure: boolean;
  destination: string;
  port: number;
  webRoot: string;
  useLetsEnc: boolean;
  firewall: FirewallRule[];
  redirect: boolean;
  rewriteHost: string;
  upstreamURL: string;
  tls?: number;
  ca?: string;
  privateKey?: string;
}

export interface PortRule {
  port: number;
  destination: string;
  dstPort: number;
  firewall?: FirewallRule[];
}

export interface PortMapRule {
  port: number;
  dstPort: number;
  destination: string;
  transport: "tcp" | "udp";
  label: string;
}

/** The three lists of a traffic request or of the stored rule set. */
export interface TrafficRules {
  https: HttpsRule[];
  ports: PortRule[];
  portmaps: PortMapRule[];
}

/** The keys of a delete request. */
export interface TrafficKeys {
  https: string[];
  ports: number[];
  portmaps: number[];
}

/** A refused rule change: its kind says why (the API maps it), `message` names the object. */
export class RuleError extends DomainError {
  override name = "RuleError";
  constructor(kind: FaultKind, message: string, options?: ErrorOptions) {
    super(kind, message, options);
  }
}

/** `https[0] (api.example.com)`, `ports[1] (22872)`: how errors name an object. */
export function describeObject(
  kind: "https" | "ports" | "portmaps",
  index: number,
  raw: unknown,
): string {
  const record = raw !== null && typeof raw === "object" ? raw as Record<string, unknown> : {};
  const key = kind === "https" ? record.domain : record.port;
  const shown = typeof key === "string" || typeof key === "number"
    ? ` (${String(key).slice(0, 80)})`
    : "";
  return `${kind}[${index}]${shown}`;
}

function firstIssue(error: z.SchemaError): string {
  const issue = error.issues[0];
  const field = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    return `unknown field ${issue.keys.map((k) => JSON.stringify(k.slice(0, 40))).join(", ")}`;
  }
  return field ? `${field}: ${issue.message}` : issue.message;
}

function listOf(body: Record<string, unknown>, kind: "https" | "ports" | "portmaps"): unknown[] {
  const value = body[kind];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new RuleError("invalid", `${kind} must be an array`);
  if (value.length > MAX_RULES_PER_KIND) {
    throw new RuleError("invalid", `${kind} holds more than ${MAX_RULES_PER_KIND} objects`);
  }
  return value;
}

function requestObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new RuleError(
      "invalid",
      "request body must be a JSON object with https, ports, portmaps",
    );
  }
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => !["https", "ports", "portmaps"].includes(k));
  if (unknown.length > 0) {
    throw new RuleError("invalid", `unknown field ${JSON.stringify(unknown[0].slice(0, 40))}`);
  }
  return record;
}

function parseEach<T, S extends z.Schema>(
  kind: "https" | "ports" | "portmaps",
  list: unknown[],
  schema: S,
  normalize: (value: z.infer<S>, name: string) => T,
): T[] {
  return list.map((raw, index) => {
    const name = describeObject(kind, index, raw);
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new RuleError("invalid", `${name}: ${firstIssue(parsed.error)}`);
    return normalize(parsed.data, name);
  });
}

function normalizeFirewall(list: z.infer<typeof firewallRuleSchema>[] | null | undefined) {
  return (list ?? []).map((rule) => ({
    sequence: rule.sequence ?? 0,
    action: rule.action,
    network: rule.network,
  }));
}

function normalizeHttps(value: z.infer<typeof httpsRuleSchema>, name: string): HttpsRule {
  const rule: HttpsRule = {
    domain: value.domain,
    secure: value.secure ?? false,
    destination: value.destination ?? "",
    port: value.port ?? 0,
    webRoot: value.webRoot ?? "",
    useLetsEnc: value.useLetsEnc ?? false,
    firewall: normalizeFirewall(value.firewall),
    redirect: value.redirect ?? false,
    rewriteHost: value.rewriteHost ?? "",
    upstreamURL: value.upstreamURL ?? "",
  };
  if (value.tls) rule.tls = value.tls;
  if (value.ca) rule.ca = value.ca;
  if (value.privateKey) rule.privateKey = value.privateKey;
  // A destination needs a port, unless it only takes TLS passthrough on its `tls` port.
  if (
    rule.port !== 0 && rule.destination === "" ||
    rule.destination !== "" && rule.port === 0 && !rule.tls
  ) {
    throw new RuleError("invalid", `${name}: destination and port must be given together`);
  }
  if (rule.tls && rule.destination === "") {
    throw new RuleError("invalid", `${name}: tls passthrough needs a destination`);
  }
  if (rule.destination === "" && rule.upstreamURL === "" && rule.webRoot === "" && !rule.tls) {
    throw new RuleError(
      "invalid",
      `${name}: a site needs destination and port, upstreamURL, webRoot or tls`,
    );
  }
  if ((rule.ca ?? "") === "" !== ((rule.privateKey ?? "") === "")) {
    throw new RuleError("invalid", `${name}: ca and privateKey must be given together`);
  }
  if (rule.rewriteHost !== "" && !HOST_PATTERN.test(rule.rewriteHost.replace(/:\d+$/, ""))) {
    throw new RuleError("invalid", `${name}: rewriteHost must be a host name`);
  }
  return rule;
}

function normalizePort(value: z.infer<typeof portRuleSchema>, name: string): PortRule {
  const rule: PortRule = {
    port: value.port,
    destination: value.destination ?? "",
    dstPort: value.dstPort ?? 0,
  };
  if ((rule.destination === "") !== (rule.dstPort === 0)) {
    throw new RuleError("invalid", `${name}: destination and dstPort must be given together`);
  }
  const firewall = normalizeFirewall(value.firewall);
  if (firewall.length > 0) rule.firewall = firewall;
  return rule;
}

function normalizePortMap(value: z.infer<typeof portMapRuleSchema>): PortMapRule {
  return {
    port: value.port,
    dstPort: value.dstPort,
    destination: value.destination ?? "",
    transport: value.transport ?? "tcp",
    label: value.label ?? "",
  };
}

function refuseDuplicates<T>(kind: string, keys: T[], describe: (key: T) => string): void {
  const seen = new Set<T>();
  keys.forEach((key, index) => {
    if (seen.has(key)) {
      throw new RuleError(
        "invalid",
        `${kind}[${index}] (${describe(key)}): appears twice in the request`,
      );
    }
    seen.add(key);
  });
}

/**
 * Validates a create or update body: every object strict, every field in range, no key twice.
 *
 * @returns the normalized rules (defaults filled in, domains lower case)
 * @throws {RuleError} 400 naming the first offending object, e.g. `https[0] (a.example.com): ...`
 */
export function parseTrafficRules(body: unknown): TrafficRules {
  const record = requestObject(body);
  const rules: TrafficRules = {
    https: parseEach("https", listOf(record, "https"), httpsRuleSchema, normalizeHttps),
    ports: parseEach("ports", listOf(record, "ports"), portRuleSchema, normalizePort),
    portmaps: parseEach(
      "portmaps",
      listOf(record, "portmaps"),
      portMapRuleSchema,
      normalizePortMap,
    ),
  };
  refuseDuplicates("https", rules.https.map((r) => r.domain), (k) => k);
  refuseDuplicates("ports", rules.ports.map((r) => r.port), String);
  refuseDuplicates("portmaps", rules.portmaps.map((r) => r.port), String);
  return rules;
}

/**
 * Validates a delete body: objects need only their key.
 *
 * @throws {RuleError} 400 naming the first offending object
 */
export function parseTrafficKeys(body: unknown): TrafficKeys {
  const record = requestObject(body);
  const keys: TrafficKeys = {
    https: parseEach("https", listOf(record, "https"), httpsKeySchema, (v) => v.domain),
    ports: parseEach("ports", listOf(record, "ports"), portKeySchema, (v) => v.port),
    portmaps: parseEach("portmaps", listOf(record, "portmaps"), portKeySchema, (v) => v.port),
  };
  refuseDuplicates("https", keys.https, (k) => k);
  refuseDuplicates("ports", keys.ports, String);
  refuseDuplicates("portmaps", keys.portmaps, String);
  return keys;
}

/** `{port}` of `ports/release`. */
export const releaseSchema = z.strictObject({ port: portSchema });

/**
 * A rule as `config` answers it: the private key left out.
 */
export function publicHttpsRule(rule: HttpsRule): Omit<HttpsRule, "privateKey"> {
  const { privateKey: _secret, ...shown } = rule;
  return shown;
}

// ---- burrow/rules/sync: what the hub keeps (certificates, keys and upstreams stay with the agent)

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
export type HubPortMapRule = Omit<PortMapRule, "label">;

/** The part of a sync the hub stores and routes by. */
export interface HubRules {
  https: HubHttpsRule[];
  ports: HubPortRule[];
  portmaps: HubPortMapRule[];
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
    if (isDomainError(error, "invalid")) return { ok: false, requestId, message: error.message };
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

/** Formats validation issues as one line: `olmId: Invalid input ...`. */
export function describeIssues(error: z.SchemaError): string {
  return error.issues.slice(0, 3).map((issue) =>
    `${issue.path.join(".") || "body"}: ${issue.message}`
  ).join("; ");
}
