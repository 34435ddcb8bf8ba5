// `burrow agent` as a process: the agent object, its API listeners, the first connection
// (from the command line or the saved state) and an orderly shutdown on /exit or a signal.

import { log } from "../log/logger.ts";
import { ApiServer } from "../api/server.ts";
import type { ConnectDefaults } from "../api/olm.ts";
import type { TunnelFactory } from "../session/tunnel.ts";
import type { SessionTiming } from "../session/session.ts";
import type { ConnectionParams } from "../session/state.ts";
import { Agent } from "./agent.ts";
import { agentRouter } from "./routes.ts";
import { startAgentRules } from "../rules/agent_rules.ts";
import { startServiceNotify } from "../net/sd_notify.ts";
import { agentStatusLine } from "./service_status.ts";

export interface DaemonConfig {
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
  /** Connect at start with these (endpoint, id and secret were all given). */
  connectAtStart?: ConnectionParams;
  tunnels?: TunnelFactory;
  timing?: Partial<SessionTiming>;
  /** ACME settings for `useLetsEnc` sites; `caFile` is read at start. */
  acme?: { directoryUrl?: string; email?: string; caFile?: string };
}

/**
 * Runs the agent until `/exit` or SIGTERM/SIGINT; resolves to the exit code.
 * Without connection flags it reconnects with the saved connection if that was active when
 * the agent last stopped, else it waits for `POST /connect`.
 */
export async function runDaemon(config: DaemonConfig): Promise<number> {
  const agent = await Agent.create({
    stateDir: config.stateDir,
    tunnels: config.tunnels,
    timing: config.timing,
  });
  // Traffic rules are restored before the first connection so the first sync carries them.
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
    });
  } else {
    log.warn('the local API is off (--enable-api=false, or --api-port 0 and --socket-path "")');
  }

  const onSignal = () => {
    log.info("signal received; shutting down");
    agent.requestExit();
  };
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  // systemd (Type=notify): READY=1 now that the listeners are up, then STATUS= and WATCHDOG=1.
  const service = await startServiceNotify(() => agentStatusLine(agent.status(), agent.isActive));
  try {
    const saved = await agent.savedConnection();
    if (config.connectAtStart) {
      await agent.connect(config.connectAtStart);
    } else if (saved?.active) {
      log.info("reconnecting with the saved connection", { endpoint: saved.params.endpoint });
      await agent.connect(saved.params);
    } else {
      log.info("waiting for POST /connect");
    }
    await agent.exitRequested;
    log.info("shutting down");
  } finally {
    await service.stop();
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    await agent.close();
    await rules.close();
    await server?.stop();
  }
  return 0;
}
