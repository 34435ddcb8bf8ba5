// Every value of `burrow agent` checked at start, before anything runs: a bad MTU or interface
// name must be a usage error (exit 2, one line), not a session that fails later and is logged
// as the hub's fault. Flags the flag table types fully (ports, durations, modes) are checked
// there; these are the ones whose valid range is the agent's business.

import { type Flags, UsageError } from "./flags.ts";
import { parseHostPort, parseIp } from "../net/mod.ts";
import { isValidInterfaceName } from "../tun/mod.ts";

/** The MTU range `POST /connect` accepts too (576 is IPv4's minimum datagram size). */
export const MIN_MTU = 576;
export const MAX_MTU = 65535;

/**
 * @throws {UsageError} naming the first bad value: a positional argument, an MTU out of
 *   range, a bad interface name, an endpoint or ACME directory that is not an http(s) URL, a
 *   zero ping interval or timeout, a DNS server that is not an address, an unreadable CA file
 */
export function checkAgentValues(flags: Flags): void {
  if (flags.positionals.length > 0) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(flags.positionals[0])}: burrow agent takes flags only`,
    );
  }
  const mtu = flags.number("mtu");
  if (mtu !== undefined && (mtu < MIN_MTU || mtu > MAX_MTU)) {
    throw new UsageError(`invalid value ${mtu} for --mtu: expected ${MIN_MTU} to ${MAX_MTU}`);
  }
  const name = flags.string("interface");
  if (name !== undefined && !isValidInterfaceName(name)) {
    throw new UsageError(
      `invalid value ${JSON.stringify(name)} for --interface: ` +
        "expected 1 to 15 letters, digits or . _ - = +",
    );
  }
  for (const flag of ["endpoint", "acme-directory"]) {
    const value = flags.string(flag);
    if (value !== undefined && !isHttpUrl(value)) {
      throw new UsageError(
        `invalid value ${JSON.stringify(value)} for --${flag}: expected an http or https URL`,
      );
    }
  }
  for (const flag of ["ping-interval", "ping-timeout"]) {
    if (flags.number(flag) === 0) {
      throw new UsageError(`invalid value 0 for --${flag}: expected a duration above zero`);
    }
  }
  const dns = flags.string("dns");
  if (dns !== undefined && !isDnsServer(dns)) {
    throw new UsageError(`invalid value ${JSON.stringify(dns)} for --dns: expected an IP address`);
  }
  for (const server of (flags.string("upstream-dns") ?? "").split(",").map((s) => s.trim())) {
    if (server !== "" && !isDnsServer(server)) {
      throw new UsageError(
        `invalid value ${JSON.stringify(server)} in --upstream-dns: expected IP or IP:PORT`,
      );
    }
  }
  const caFile = flags.string("acme-ca-file");
  if (caFile !== undefined) {
    try {
      Deno.readTextFileSync(caFile);
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound ? "no such file" : "cannot read it";
      throw new UsageError(`invalid value for --acme-ca-file: ${why}`);
    }
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

function isDnsServer(text: string): boolean {
  if (parseIp(text)) return true;
  const hostPort = parseHostPort(text);
  return hostPort !== null && parseIp(hostPort.host) !== null;
}
