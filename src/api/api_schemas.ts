// The shapes of the local API's answers, as schemas (src/schema): the OpenAPI document
// (src/api/openapi.ts) is generated from them, and tests check real answers against them. The
// request schemas live beside the handlers that validate with them (olm.ts, packetriot.ts) or
// in protocol/ (the traffic-rule objects).

import { z } from "../schema/mod.ts";
import {
  httpsRuleSchema,
  MAX_RULES_PER_KIND,
  portMapRuleSchema,
  portRuleSchema,
  trafficKeySchemas,
} from "../protocol/mod.ts";

// ---- requests of the Packetriot traffic routes ----

/**
 * The body of `traffic/create` and `traffic/update`: each list optional (`null` counts as
 * absent), no other top-level field; every object checked by protocol/'s rule schemas.
 */
export const trafficRulesBodySchema = z.strictObject({
  https: z.array(httpsRuleSchema).max(MAX_RULES_PER_KIND).nullish(),
  ports: z.array(portRuleSchema).max(MAX_RULES_PER_KIND).nullish(),
  portmaps: z.array(portMapRuleSchema).max(MAX_RULES_PER_KIND).nullish(),
});

/** The body of `traffic/delete`: objects need only their key. */
export const trafficKeysBodySchema = z.strictObject({
  https: z.array(trafficKeySchemas.https).max(MAX_RULES_PER_KIND).nullish(),
  ports: z.array(trafficKeySchemas.port).max(MAX_RULES_PER_KIND).nullish(),
  portmaps: z.array(trafficKeySchemas.port).max(MAX_RULES_PER_KIND).nullish(),
});

// ---- Olm answers ----

/** `{"status": "..."}`, the answer of Olm's commands. */
export const olmStatusTextSchema = z.object({ status: z.string() });

/** An Olm route's error when JSON was asked for (`?format=json`, `Accept`). */
export const olmErrorSchema = z.object({ error: z.string(), status: z.number().int() });

const peerSchema = z.object({
  siteId: z.number().int(),
  name: z.string(),
  connected: z.boolean(),
  rtt: z.number().describe("nanoseconds; 0 when unknown"),
  lastSeen: z.string().describe("RFC 3339; 0001-01-01T00:00:00Z when never"),
  endpoint: z.string(),
  isRelay: z.boolean(),
  peerAddress: z.string(),
  holepunchConnected: z.boolean(),
});

/** `GET /status`. */
export const olmStatusSchema = z.object({
  connected: z.boolean(),
  registered: z.boolean(),
  terminated: z.boolean(),
  version: z.string(),
  agent: z.string(),
  orgId: z.string(),
  peers: z.record(z.string(), peerSchema),
  networkSettings: z.object({ tunnelIP: z.string() }),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

// ---- Packetriot answers ----

/** Every Packetriot answer: `status` true on success, `error` empty on success. */
export const envelopeSchema = z.object({ status: z.boolean(), error: z.string() });

const publicHttpsRuleSchema = httpsRuleSchema.omit({ privateKey: true });

export const infoSchema = envelopeSchema.extend({
  version: z.string(),
  runtimeVersion: z.string(),
  isUpdated: z.boolean(),
  isTunConnected: z.boolean(),
});

export const configSchema = envelopeSchema.extend({
  version: z.string(),
  os: z.string(),
  arch: z.string(),
  https: z.array(publicHttpsRuleSchema),
  ports: z.array(portRuleSchema),
  portmaps: z.array(portMapRuleSchema),
});

export const tunStartSchema = envelopeSchema.extend({ isTunConnected: z.boolean() });

export const healthSchema = envelopeSchema.extend({
  services: z.array(z.object({
    // Not .int(): its integers stop at 2^53, and flow ids go up to 2^64 - 1.
    flowID: z.number().min(0).refine(Number.isInteger).describe(
      "the rule's unsigned 64-bit flow id, written as an exact JSON integer",
    ),
    flowIDString: z.string().regex(/^[0-9]+$/).describe(
      "flowID in decimal, for readers that round large integers",
    ),
    available: z.boolean(),
    http: publicHttpsRuleSchema.optional(),
    port: portRuleSchema.optional(),
  })),
});

export const allocateSchema = envelopeSchema.extend({
  port: z.number().int().min(1).max(65535),
  message: z.string(),
});

export const portsListSchema = z.array(portRuleSchema);

/** The media type of `GET /metrics` (Prometheus text exposition format 0.0.4). */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
