// The Olm half of the local API (spec/olm-api.txt): /connect, /status, /disconnect,
// /switch-org, /exit and /health, with Olm's bodies, status codes and plain-text errors.

import { z } from "../schema/mod.ts";
import { parseDurationMs, parseUpstreams } from "../protocol/mod.ts";
import type { ConnectParams, OlmBackend } from "./backend.ts";
import { ApiError } from "./api_errors.ts";
import type { Route } from "./exchange.ts";
import { parseJsonBody } from "./json.ts";
import { parseIp } from "../net/mod.ts";
import { olmStatusSchema, olmStatusTextSchema } from "./api_schemas.ts";

/** What `POST /connect` falls back to for fields the body leaves out (from the command line). */
export type ConnectDefaults = Omit<ConnectParams, "endpoint" | "id" | "secret">;

export const OLM_CONNECT_DEFAULTS: ConnectDefaults = {
  mtu: 1280,
  interfaceName: "olm",
  holepunch: false,
  pingIntervalMs: 3000,
  pingTimeoutMs: 5000,
};

// Olm reads these fields and ignores others, so unknown fields are accepted here too.
export const connectBodySchema = z.object({
  id: z.string().optional(),
  secret: z.string().optional(),
  endpoint: z.string().optional(),
  userToken: z.string().optional(),
  mtu: z.number().int().min(576).max(65535).optional(),
  dns: z.string().optional(),
  dnsProxyIP: z.string().optional(),
  upstreamDNS: z.array(z.string()).optional(),
  interfaceName: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, {
    message: "interfaceName must be 1 to 15 letters, digits, '_', '.' or '-'",
  }).optional(),
  holepunch: z.boolean().optional(),
  tlsClientCert: z.string().optional(),
  pingInterval: z.string().optional(),
  pingTimeout: z.string().optional(),
  orgId: z.string().optional(),
});

export const switchOrgBodySchema = z.object({
  orgId: z.string().optional(),
  // Olm itself reads the snake_case name.
  org_id: z.string().optional(),
});

const MISSING_CONNECT_FIELDS = "Missing required fields: id, secret, and endpoint must be provided";

/** The Olm routes, served by `agent`. */
export function olmRoutes(
  agent: OlmBackend,
  defaults: ConnectDefaults = OLM_CONNECT_DEFAULTS,
): Route[] {
  return [
    {
      family: "olm",
      methods: ["POST"],
      path: "/connect",
      doc: {
        summary: "start a session with a hub",
        request: connectBodySchema,
        responses: { 202: { description: "the session is starting", json: olmStatusTextSchema } },
        errors: [400, 409],
      },
      async handle(req) {
        const body = parseJsonBody(req, connectBodySchema);
        if (!body.id || !body.secret || !body.endpoint) {
          throw new ApiError(400, MISSING_CONNECT_FIELDS);
        }
        const params = connectParams(body, defaults);
        await agent.connect(params);
        return { status: 202, json: { status: "connection request accepted" } };
      },
    },
    {
      family: "olm",
      methods: ["GET"],
      path: "/status",
      doc: {
        summary: "the session's state",
        responses: { 200: { description: "the live status", json: olmStatusSchema } },
      },
      handle: () => ({ status: 200, json: agent.status() }),
    },
    {
      family: "olm",
      methods: ["POST"],
      path: "/disconnect",
      doc: {
        summary: "end the session",
        responses: { 200: { description: "the session is gone", json: olmStatusTextSchema } },
        errors: [409],
      },
      async handle() {
        await agent.disconnect();
        return { status: 200, json: { status: "disconnect initiated" } };
      },
    },
    {
      family: "olm",
      methods: ["POST"],
      path: "/switch-org",
      doc: {
        summary: "move the session to another organisation",
        request: switchOrgBodySchema,
        responses: { 200: { description: "switched", json: olmStatusTextSchema } },
        errors: [400, 500],
      },
      async handle(req) {
        const body = parseJsonBody(req, switchOrgBodySchema);
        const orgId = body.orgId || body.org_id;
        if (!orgId) throw new ApiError(400, "Missing required field: orgId");
        try {
          await agent.switchOrg(orgId);
        } catch (error) {
          const reason = error instanceof Error ? error.message : "unknown error";
          throw new ApiError(500, `Org switch failed: ${reason}`);
        }
        return { status: 200, json: { status: "org switch request accepted" } };
      },
    },
    {
      family: "olm",
      methods: ["POST"],
      path: "/exit",
      doc: {
        summary: "stop the agent process",
        responses: { 200: { description: "the agent stops", json: olmStatusTextSchema } },
      },
      handle() {
        agent.requestExit();
        return { status: 200, json: { status: "shutdown initiated" } };
      },
    },
    {
      family: "olm",
      methods: ["GET"],
      path: "/health",
      doc: {
        summary: "the API is up",
        responses: { 200: { description: "always", json: olmStatusTextSchema } },
      },
      handle: () => ({ status: 200, json: { status: "ok" } }),
    },
  ];
}

type ConnectBody = z.output<typeof connectBodySchema>;

function connectParams(body: ConnectBody, defaults: ConnectDefaults): ConnectParams {
  let url: URL;
  try {
    url = new URL(body.endpoint!);
  } catch {
    throw new ApiError(400, "Invalid request: endpoint must be a URL such as https://example.com");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ApiError(400, "Invalid request: endpoint must be an http or https URL");
  }
  const params: ConnectParams = {
    endpoint: body.endpoint!,
    id: body.id!,
    secret: body.secret!,
    mtu: body.mtu ?? defaults.mtu,
    interfaceName: body.interfaceName || defaults.interfaceName,
    holepunch: body.holepunch ?? defaults.holepunch,
    pingIntervalMs: duration("pingInterval", body.pingInterval) ?? defaults.pingIntervalMs,
    pingTimeoutMs: duration("pingTimeout", body.pingTimeout) ?? defaults.pingTimeoutMs,
  };
  const orgId = body.orgId || defaults.orgId;
  if (orgId) params.orgId = orgId;
  const userToken = body.userToken || defaults.userToken;
  if (userToken) params.userToken = userToken;
  const dns = body.dns || defaults.dns;
  if (dns) {
    if (!Array.isArray(parseUpstreams([dns]))) {
      throw new ApiError(400, "Invalid request: dns must be IP or IP:port");
    }
    params.dns = dns;
  }
  const upstreamDns = body.upstreamDNS ?? defaults.upstreamDns;
  if (upstreamDns) {
    const parsed = parseUpstreams(upstreamDns);
    if (!Array.isArray(parsed)) {
      throw new ApiError(
        400,
        `Invalid request: upstreamDNS entries must be IP or IP:port, received ${parsed.bad}`,
      );
    }
    params.upstreamDns = upstreamDns;
  }
  const dnsProxyIP = body.dnsProxyIP || defaults.dnsProxyIP;
  if (dnsProxyIP) {
    if (parseIp(dnsProxyIP)?.length !== 4) {
      throw new ApiError(400, "Invalid request: dnsProxyIP must be an IPv4 address");
    }
    params.dnsProxyIP = dnsProxyIP;
  }
  if (defaults.overrideDns) params.overrideDns = true;
  const tlsClientCert = body.tlsClientCert || defaults.tlsClientCert;
  if (tlsClientCert) params.tlsClientCert = tlsClientCert;
  return params;
}

/** A Go-style duration ("3s", "500ms"); undefined when absent or empty. */
function duration(field: string, text: string | undefined): number | undefined {
  if (!text) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0) {
    throw new ApiError(400, `Invalid request: ${field} must be a duration such as 3s or 500ms`);
  }
  return ms;
}
