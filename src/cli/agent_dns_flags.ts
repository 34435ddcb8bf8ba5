// Checks the agent's DNS flags (--upstream-dns, --dns-proxy-ip) before anything starts, so a
// bad value is one usage line (exit 2) instead of a proxy that never answers.

import { UsageError } from "./flags.ts";
import { parseIp } from "../net/mod.ts";
import { parseUpstreams } from "../protocol/mod.ts";

/** @throws {UsageError} naming the flag and the bad value */
export function checkDnsDefaults(
  defaults: { upstreamDns?: string[]; dnsProxyIP?: string; dns?: string },
): void {
  if (defaults.dns !== undefined && !Array.isArray(parseUpstreams([defaults.dns]))) {
    throw new UsageError(
      `invalid value ${JSON.stringify(defaults.dns)} for --dns: expected IP or IP:PORT`,
    );
  }
  if (defaults.upstreamDns) {
    const parsed = parseUpstreams(defaults.upstreamDns);
    if (!Array.isArray(parsed)) {
      throw new UsageError(
        `invalid value ${JSON.stringify(parsed.bad)} for --upstream-dns: expected IP or IP:PORT`,
      );
    }
  }
  if (defaults.dnsProxyIP !== undefined && parseIp(defaults.dnsProxyIP)?.length !== 4) {
    throw new UsageError(
      `invalid value ${
        JSON.stringify(defaults.dnsProxyIP)
      } for --dns-proxy-ip: expected an IPv4 address`,
    );
  }
}
