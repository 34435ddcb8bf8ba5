// A rule set must fit in one `burrow/rules/sync` message (the hub's frame limit), checked
// before it is stored: otherwise the agent would store it, the hub would close the socket on
// the sync, and every reconnect would send it again.

import { HUB_MAX_FRAME_BYTES, MSG, requestFrameBytes, RuleError } from "../protocol/mod.ts";
import { syncPayload } from "./hub_link.ts";
import type { RuleSet } from "./rule_store.ts";

/**
 * @throws {RuleError} `too_large` (413) when `set`'s sync message would exceed the hub's limit
 */
export function assertSyncFits(set: RuleSet, limit = HUB_MAX_FRAME_BYTES): void {
  const bytes = requestFrameBytes(MSG.rulesSync, syncPayload(set));
  if (bytes <= limit) return;
  throw new RuleError(
    "too_large",
    `the rule set would be ${bytes} bytes on the way to the hub, which accepts at most ` +
      `${limit}: nothing was changed (remove or shorten rules)`,
  );
}
