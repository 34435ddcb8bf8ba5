// `ports/allocate` never half-applied: the hub hands out a port first, and when the agent
// cannot record it (state directory read-only or full), the port goes straight back to the
// hub and the caller gets an error without a path, so a retry does not leak another port.

import { log } from "../log/mod.ts";
import { MSG, RuleError } from "../protocol/mod.ts";

type Ask = (type: string, data: Record<string, unknown>) => Promise<unknown>;

/**
 * Runs `record` for a port the hub just allocated; if it fails, releases the port at the hub.
 *
 * @throws {RuleError} `internal` when the port could not be recorded (it was returned)
 */
export async function recordOrReturnPort(
  port: number,
  ask: Ask,
  record: () => Promise<void>,
): Promise<void> {
  try {
    await record();
  } catch (error) {
    log.error("cannot record an allocated port; returning it to the hub", {
      port,
      error: String(error),
    });
    try {
      await ask(MSG.portsRelease, { port });
    } catch (releaseError) {
      log.warn("the hub did not take the port back", { port, error: String(releaseError) });
    }
    throw new RuleError(
      "internal",
      "cannot record the port in the state directory; the port was returned to the hub",
    );
  }
}
