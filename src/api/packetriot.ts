// The Packetriot half of the local API (spec/packetriot-client-api.txt), routes under
// /api/client/v1.0/: info, config, tunnel start/shutdown/restart, health, traffic rule CRUD and
// port allocation. Handlers only translate: the session lives in the agent, the rules in
// src/rules/engine.ts. Every answer is the documented `{status, error}` envelope.

import { INSTALLED_VERSION_ENV } from "../agent/update.ts";
import { VERSION } from "../version.ts";
import { goArch, stringifyJson, type TrafficEngine } from "../rules/mod.ts";
import { releaseSchema } from "../protocol/mod.ts";
import { agentStateAs409, ApiError } from "./errors.ts";
import { readJsonBody } from "./json.ts";
import { type ApiRequest, type ApiResponse, PACKETRIOT_PREFIX, type Route } from "./router.ts";

/** The agent's session as these routes drive it (the same session the Olm routes use). */
export interface PacketriotSession {
  /** Whether a valid, working tunnel session is established. */
  isConnected(): boolean;
  /**
   * Starts the session maintenance if it is not running; returns at once.
   *
   * @returns whether a session existed already
   */
  start(): boolean | Promise<boolean>;
  /** Ends the session (a no-op without one). */
  shutdown(): void | Promise<void>;
  /** Ends the session and starts a new one; returns once the new one is under way. */
  restart(): void | Promise<void>;
}

export interface PacketriotOptions {
  /** Version of the program installed on the host. @default installedVersion() */
  version?: string;
  /** Version of the program running. @default runtimeVersion() */
  runtimeVersion?: string;
}

/**
 * The version installed on the host. When the launcher runs a newer burrow saved in the state
 * directory, it passes the installed one in `BURROW_INSTALLED_VERSION`.
 */
export function installedVersion(): string {
  const fromLauncher = Deno.env.get(INSTALLED_VERSION_ENV);
  return withV(fromLauncher && fromLauncher.trim() !== "" ? fromLauncher.trim() : VERSION);
}

/** The version of the code running now. */
export function runtimeVersion(): string {
  return withV(VERSION);
}

function withV(version: string): string {
  return version.startsWith("v") ? version : `v${version}`;
}

function ok(extra: Record<string, unknown> = {}): ApiResponse {
  return { status: 200, json: { status: true, error: "", ...extra } };
}

// The rules throw a DomainError with a kind; errorResponse maps the kind to the envelope.
async function rules<T>(work: () => Promise<T>): Promise<T> {
  return await work();
}

/**
 * The Packetriot routes.
 *
 * @example
 * ```ts
 * const router = new Router([...olmRoutes(agent), ...packetriotRoutes(session, engine)]);
 * ```
 */
export function packetriotRoutes(
  tunnel: PacketriotSession,
  engine: TrafficEngine,
  options: PacketriotOptions = {},
): Route[] {
  const route = (
    methods: string[],
    path: string,
    handle: (req: ApiRequest) => Promise<ApiResponse> | ApiResponse,
  ): Route => ({ methods, path: PACKETRIOT_PREFIX + path, handle, family: "packetriot" });

  return [
    route(["GET"], "info", () => {
      const version = options.version ?? installedVersion();
      const running = options.runtimeVersion ?? runtimeVersion();
      return ok({
        version,
        runtimeVersion: running,
        isUpdated: version !== running,
        isTunConnected: tunnel.isConnected(),
      });
    }),

    route(["GET"], "config", () => {
      const { https, ports, portmaps } = engine.rules();
      return ok({
        version: options.runtimeVersion ?? runtimeVersion(),
        os: Deno.build.os,
        arch: goArch(),
        https,
        ports,
        portmaps,
      });
    }),

    route(["GET"], "tun/start", async () => {
      const existed = await agentStateAs409(() => tunnel.start());
      return { status: 200, json: { status: true, isTunConnected: existed, error: "" } };
    }),

    route(["GET"], "tun/shutdown", async () => {
      await agentStateAs409(() => tunnel.shutdown());
      return ok();
    }),

    route(["GET"], "tun/restart", async () => {
      await agentStateAs409(() => tunnel.restart());
      return ok();
    }),

    route(["GET"], "health", async () => {
      const services = await engine.health();
      // flowIDs are 64-bit: written as exact integers, which JSON.stringify cannot do.
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
