// When the agent process ends by itself. An agent given its credentials at start (command line,
// environment or configuration) exists to hold that one session: when the hub revokes it (401,
// 403, client removed) or the device cannot be made, the process exits non-zero so a
// supervisor sees it. An agent driven by `POST /connect` stays up and reports `terminated`
// with the error in /status, as Olm does.

import type { Logger } from "../log/mod.ts";
import type { Agent } from "./agent.ts";

/** Exit code of an agent whose start session was ended for good. */
export const EXIT_SESSION_ENDED = 1;

/**
 * Watches the session `agent` runs now (the one started from the command line): if it ends
 * terminated, logs why and asks the process to exit.
 *
 * @returns the exit code the process should end with: resolves to 0 when the session was
 *   stopped instead (by `/disconnect` or a shutdown)
 */
export async function exitWhenStartSessionEnds(agent: Agent, log: Logger): Promise<number> {
  const error = await agent.whenTerminated();
  if (!error) return 0;
  log.error("the session given at start has ended for good; exiting", {
    code: error.code,
    message: error.message,
  });
  agent.requestExit();
  return EXIT_SESSION_ENDED;
}
