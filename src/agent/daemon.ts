// `burrow agent` as a process: the composed agent (src/agent/compose.ts), the first connection
// (from the command line or the saved state) and an orderly shutdown on /exit or a signal.

import { log } from "../log/mod.ts";
import type { ConnectionParams } from "../session/mod.ts";
import { startMemoryTrim, startServiceNotify } from "../net/mod.ts";
import { type AgentConfig, composeAgent } from "./compose.ts";
import { exitWhenStartSessionEnds } from "./exit_policy.ts";
import { agentStatusLine } from "./service_status.ts";

export interface DaemonConfig extends AgentConfig {
  /** Connect at start with these (endpoint, id and secret were all given). */
  connectAtStart?: ConnectionParams;
}

/**
 * Runs the agent until `/exit` or SIGTERM/SIGINT; resolves to the exit code: 0, or 1 when
 * the session given at start was ended for good (src/agent/exit_policy.ts).
 * Without connection flags it reconnects with the saved connection if that was active when
 * the agent last stopped, else it waits for `POST /connect`.
 */
export async function runDaemon(config: DaemonConfig): Promise<number> {
  const { agent, close } = await composeAgent(config);

  const onSignal = () => {
    log.info("signal received; shutting down");
    agent.requestExit();
  };
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  let exitCode: Promise<number> = Promise.resolve(0);
  // systemd (Type=notify): READY=1 now that the listeners are up, then STATUS= and WATCHDOG=1.
  const service = await startServiceNotify(() => agentStatusLine(agent.status(), agent.isActive));
  // Native memory freed after start (and after each connection's setup) back to the system.
  const stopTrim = startMemoryTrim();
  try {
    const saved = await agent.savedConnection();
    if (config.connectAtStart) {
      await agent.connect(config.connectAtStart);
      exitCode = exitWhenStartSessionEnds(agent, log);
    } else if (saved?.active) {
      log.info("reconnecting with the saved connection", { endpoint: saved.params.endpoint });
      await agent.connect(saved.params);
    } else {
      log.info("waiting for POST /connect");
    }
    await agent.exitRequested;
    log.info("shutting down");
  } finally {
    stopTrim();
    await service.stop();
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    await close();
  }
  // The start session is over by now: stopped (0) or terminated (it asked for the exit).
  return await exitCode;
}
