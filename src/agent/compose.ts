// The agent's composition root: the one place that picks the implementations and wires them —
// the hub session over the WireGuard device (src/session, src/tun), the state directory, the
// traffic rules engine (src/rules), and the local API's routes and listeners (src/api). Every
// other module takes its collaborators as arguments.

import {
  ApiServer,
  type ConnectDefaults,
  metricsRoute,
  olmRoutes,
  openApiRoute,
  packetriotRoutes,
  Router,
} from "../api/mod.ts";
import { agentMetrics } from "./agent_metrics.ts";
import { log as rootLog, type Logger } from "../log/mod.ts";
import { startAgentRules } from "../rules/mod.ts";
import { goArch, type TrafficEngine } from "../rules/mod.ts";
import {
  Session,
  type SessionTiming,
  StateStore,
  type TunnelFactory,
  wireguardTunnels,
} from "../session/mod.ts";
import { Agent } from "./agent.ts";
import { PrivateResources } from "./private_resources.ts";
import { DirectPaths } from "./direct_paths.ts";
import { DnsOverride } from "./dns_override.ts";
import { resolverVia } from "./endpoint_resolver.ts";
import { DomainError } from "../errors/mod.ts";
import { installedVersion, runtimeVersion } from "./update.ts";

/** What the agent is built from; the daemon takes it from the command line. */
export interface AgentConfig {
  stateDir: string;
  api: {
    socketPath?: string;
    socketMode: number;
    /** Group id given to the socket file (`--socket-group`). */
    socketGroup?: number;
    tcp?: { hostname: string; port: number };
    apiToken?: string;
  };
  /** Fallbacks for `POST /connect` fields, from the command line. */
  defaults: ConnectDefaults;
  /** The WireGuard device of each session. @default wireguardTunnels (src/tun) */
  tunnels?: TunnelFactory;
  timing?: Partial<SessionTiming>;
  /** PEM file of a private CA for the hub's HTTPS (`--hub-ca`). */
  hubCaFile?: string;
  /** ACME settings for `useLetsEnc` sites; `caFile` is read at start. */
  acme?: { directoryUrl?: string; email?: string; caFile?: string };
}

export interface NewAgentOptions {
  stateDir: string;
  /** @default wireguardTunnels (src/tun) */
  tunnels?: TunnelFactory;
  log?: Logger;
  timing?: Partial<SessionTiming>;
  /** Delay between answering `/exit` and shutting down. @default 100 */
  exitDelayMs?: number;
  /** PEM file of a private CA for the hub's HTTPS. */
  hubCaFile?: string;
}

/**
 * The agent over its state directory, whose every connection runs a hub session
 * (src/session) over the device `tunnels` makes.
 */
export async function newAgent(options: NewAgentOptions): Promise<Agent> {
  const tunnels = options.tunnels ?? wireguardTunnels;
  const log = options.log ?? rootLog;
  const store = new StateStore(options.stateDir);
  await store.identity(); // the state directory exists before the repair below writes there
  // A crash while --override-dns was in force left the host's resolver pointing at a proxy
  // that is gone: put it back before anything else.
  await new DnsOverride({ stateDir: options.stateDir }).repair().catch((error) =>
    log.warn("cannot restore the host's resolver", { error: String(error) })
  );
  return await Agent.create({
    store,
    sessions: (params, privateKey) => {
      // Each session gets its own DNS proxy and site role (src/agent/private_resources.ts).
      const resolveHost = params.dns ? resolverVia(params.dns) : undefined;
      const resources = new PrivateResources({
        params,
        stateDir: options.stateDir,
        log,
        resolveHost,
      });
      // Direct paths first: it reads burrow/site/clients, which the site role then consumes.
      const paths = new DirectPaths({ privateKey, holepunch: params.holepunch, log, resolveHost });
      return new Session({
        params,
        privateKey,
        tunnels,
        log,
        timing: options.timing,
        extensions: [paths, resources],
        resolveHost,
        hubCaFile: options.hubCaFile,
      });
    },
    log: options.log,
    exitDelayMs: options.exitDelayMs,
  });
}

/**
 * The local API's router for `agent`: the Olm routes, and the Packetriot routes when the
 * traffic rules engine runs (without one only the Olm routes are served).
 */
export function agentRouter(
  agent: Agent,
  defaults?: ConnectDefaults,
  rules?: TrafficEngine,
): Router {
  const versions = {
    version: installedVersion(),
    runtimeVersion: runtimeVersion(),
    arch: goArch(),
  };
  const metrics = agentMetrics(agent, rules);
  const routes = [
    ...olmRoutes(agent, defaults),
    ...(rules ? packetriotRoutes(agent.packetriotSession(), rules, versions) : []),
    metricsRoute(() => metrics.render()),
  ];
  return new Router([...routes, openApiRoute(routes)]);
}

/** The agent with its parts running; `close` stops them in reverse order. */
export interface ComposedAgent {
  agent: Agent;
  close(): Promise<void>;
}

/**
 * Builds the agent and starts its parts, in order:
 *   1. the agent over its state directory (no session yet)
 *   2. the traffic rules, restored before the first connection so the first sync carries them
 *   3. the API listeners, when a socket or TCP address is configured
 */
export async function composeAgent(config: AgentConfig): Promise<ComposedAgent> {
  const agent = await newAgent({
    stateDir: config.stateDir,
    tunnels: config.tunnels,
    timing: config.timing,
    hubCaFile: config.hubCaFile,
  });
  const acme = config.acme ?? {};
  const rules = await startAgentRules(agent, {
    directoryUrl: acme.directoryUrl,
    email: acme.email,
    caPem: acme.caFile ? await Deno.readTextFile(acme.caFile) : undefined,
  });
  let server: ApiServer | undefined;
  if (config.api.socketPath || config.api.tcp) {
    server = await ApiServer.start({
      router: agentRouter(agent, config.defaults, rules.engine),
      socketPath: config.api.socketPath,
      socketMode: config.api.socketMode,
      socketGroup: config.api.socketGroup,
      tcp: config.api.tcp,
      apiToken: config.api.apiToken,
    }).catch(async (error) => {
      // A busy port or socket path is an operator's problem to fix: one clear line, no trace.
      await agent.close();
      await rules.close();
      throw new DomainError("conflict", `cannot serve the local API: ${error.message}`, {
        cause: error,
      });
    });
  } else {
    rootLog.warn('the local API is off (--enable-api=false, or --api-port 0 and --socket-path "")');
  }
  return {
    agent,
    close: async () => {
      await agent.close();
      await rules.close();
      await server?.stop();
    },
  };
}
