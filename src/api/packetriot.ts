// The Packetriot half of the local API (spec/packetriot-client-api.txt), routes under
// /api/client/v1.0/: info, config, tunnel start/shutdown/restart, health, traffic rule CRUD and
// port allocation. Handlers only translate, over the narrow backend of src/api/backend.ts (the
// agent's session and its traffic rules). Every answer is the documented `{status, error}`
// envelope.

import { stringifyJson } from "../protocol/mod.ts";
import { releaseSchema } from "../protocol/mod.ts";
import type { PacketriotRules, PacketriotTunnel } from "./backend.ts";
import { ApiError } from "./api_errors.ts";
import {
  type ApiRequest,
  type ApiResponse,
  PACKETRIOT_PREFIX,
  type Route,
  type RouteDoc,
} from "./exchange.ts";
import { readJsonBody } from "./json.ts";
import {
  allocateSchema,
  configSchema,
  envelopeSchema,
  healthSchema,
  infoSchema,
  portsListSchema,
  trafficKeysBodySchema,
  trafficRulesBodySchema,
  tunStartSchema,
} from "./api_schemas.ts";

/** What `info` and `config` report about the program (src/agent/update.ts computes it). */
export interface PacketriotOptions {
  /** Version of the program installed on the host, e.g. `v0.14.0`. */
  version: string;
  /** Version of the program running, e.g. `v0.15.0`. */
  runtimeVersion: string;
  /** The host's architecture in Go's names (`amd64`, `arm64`), as the spec's example shows. */
  arch: string;
}

function ok(extra: Record<string, unknown> = {}): ApiResponse {
  return { status: 200, json: { status: true, error: "", ...extra } };
}

// The rules throw a DomainError with a kind; errorResponse maps the kind to the envelope.
async function rules<T>(work: () => Promise<T>): Promise<T> {
  return await work();
}

const done = (description: string) => ({ 200: { description, json: envelopeSchema } });

/** What `GET /openapi.json` says of each Packetriot route, by path under the prefix. */
const PACKETRIOT_DOCS: Record<string, RouteDoc> = {
  "info": {
    summary: "versions and whether the tunnel is connected",
    responses: { 200: { description: "the versions", json: infoSchema } },
  },
  "config": {
    summary: "the platform and every stored traffic rule",
    responses: { 200: { description: "the rules", json: configSchema } },
  },
  "tun/start": {
    summary: "start the session with the saved parameters",
    responses: { 200: { description: "started, or running already", json: tunStartSchema } },
    errors: [409],
  },
  "tun/shutdown": { summary: "end the session", responses: done("ended (or none ran)") },
  "tun/restart": {
    summary: "end the session and start a new one",
    responses: done("restarted"),
    errors: [409],
  },
  "health": {
    summary: "check the upstream of every rule",
    responses: { 200: { description: "one entry per service", json: healthSchema } },
  },
  "traffic/create": {
    summary: "add rules (all or nothing)",
    request: trafficRulesBodySchema,
    responses: done("added, stored and synced"),
    errors: [400, 409],
  },
  "traffic/update": {
    summary: "replace rules found by key",
    request: trafficRulesBodySchema,
    responses: done("replaced"),
    errors: [400, 404, 409],
  },
  "traffic/delete": {
    summary: "delete rules by key",
    request: trafficKeysBodySchema,
    responses: done("deleted"),
    errors: [400, 404, 409],
  },
  "ports/allocate": {
    summary: "allocate a public TCP port on the hub",
    responses: { 200: { description: "the port", json: allocateSchema } },
    errors: [409, 502],
  },
  "ports/release": {
    summary: "give a port back to the hub",
    request: releaseSchema,
    responses: done("released"),
    errors: [400, 404, 502],
  },
  "ports/list": {
    summary: "every allocated port (a bare array)",
    responses: { 200: { description: "the ports", json: portsListSchema } },
  },
};

/**
 * The Packetriot routes.
 *
 * @example
 * ```ts
 * const versions = { version: "v0.14.0", runtimeVersion: "v0.15.0", arch: "amd64" };
 * const router = new Router([...olmRoutes(agent), ...packetriotRoutes(tunnel, rules, versions)]);
 * ```
 */
export function packetriotRoutes(
  tunnel: PacketriotTunnel,
  engine: PacketriotRules,
  options: PacketriotOptions,
): Route[] {
  const route = (
    methods: string[],
    path: string,
    handle: (req: ApiRequest) => Promise<ApiResponse> | ApiResponse,
  ): Route => ({
    methods,
    path: PACKETRIOT_PREFIX + path,
    handle,
    family: "packetriot",
    doc: PACKETRIOT_DOCS[path],
  });

  return [
    route(["GET"], "info", () => {
      const { version, runtimeVersion } = options;
      return ok({
        version,
        runtimeVersion,
        isUpdated: version !== runtimeVersion,
        isTunConnected: tunnel.isConnected(),
      });
    }),

    route(["GET"], "config", () => {
      const { https, ports, portmaps } = engine.rules();
      return ok({
        version: options.runtimeVersion,
        os: Deno.build.os,
        arch: options.arch,
        https,
        ports,
        portmaps,
      });
    }),

    route(["GET"], "tun/start", async () => {
      const existed = await tunnel.start();
      return { status: 200, json: { status: true, isTunConnected: existed, error: "" } };
    }),

    route(["GET"], "tun/shutdown", async () => {
      await tunnel.shutdown();
      return ok();
    }),

    route(["GET"], "tun/restart", async () => {
      await tunnel.restart();
      return ok();
    }),

    route(["GET"], "health", async () => {
      // flowIDs are 64-bit: written as exact integers, which JSON.stringify cannot do, and
      // again as decimal strings for readers (jq, JavaScript) that round integers above 2^53.
      const services = (await engine.health()).map((service) => ({
        ...service,
        flowIDString: String((service as { flowID?: unknown }).flowID),
      }));
      return {
        status: 200,
        text: stringifyJson({ status: true, error: "", services }),
        headers: { "content-type": "application/json" },
      };
    }),

    route(["POST"], "traffic/create", async (req) => {
      const body = readJsonBody(req);
      await rules(() => engine.create(body));
      return ok();
    }),

    route(["POST"], "traffic/update", async (req) => {
      const body = readJsonBody(req);
      await rules(() => engine.update(body));
      return ok();
    }),

    route(["GET", "POST", "DELETE"], "traffic/delete", async (req) => {
      const body = readJsonBody(req);
      await rules(() => engine.remove(body));
      return ok();
    }),

    route(["GET"], "ports/allocate", async () => {
      const port = await rules(() => engine.allocate());
      return {
        status: 200,
        json: { status: true, port, message: "new port allocated", error: "" },
      };
    }),

    route(["POST"], "ports/release", async (req) => {
      const parsed = releaseSchema.safeParse(readJsonBody(req));
      if (!parsed.success) throw new ApiError(400, "port must be a number 1-65535");
      await rules(() => engine.release(parsed.data.port));
      return ok();
    }),

    route(["GET"], "ports/list", () => ({ status: 200, json: engine.ports() })),
  ];
}
