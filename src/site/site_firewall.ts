// Applies a site's kernel rules (./site_rules.ts) with nft(8), one transaction each time, and
// turns IPv4 forwarding on for exactly the interfaces the traffic crosses (the tunnel and the
// LAN interfaces routing the destinations), remembering what each was so `close()` puts every
// setting back and deletes the table. Linux forwards IPv6 only by the one global switch
// (net.ipv6.conf.all.forwarding), so that is turned on while an IPv6 destination is granted.

import { DomainError } from "../errors/mod.ts";
import { log } from "../log/mod.ts";
import { formatIp, parseCidr } from "../net/mod.ts";
import { siteRuleset, siteRulesetRemoval, type SiteRulesInput } from "./site_rules.ts";

export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (a seam for tests); never throws for a non-zero exit. */
export type CommandRunner = (argv: string[], stdin?: string) => Promise<CommandOutput>;

export const runCommand: CommandRunner = async (argv, stdin) => {
  try {
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(stdin));
      await writer.close();
    }
    const out = await child.output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } catch (error) {
    return { code: -1, stdout: "", stderr: String(error) };
  }
};

/** The one switch of IPv6 forwarding (per-interface values only change host/router behaviour). */
const IPV6_FORWARDING_KEY = "net.ipv6.conf.all.forwarding";

/** IPv4 forwarding of one interface (a dot in its name is a slash in the sysctl key). */
function ipv4ForwardingKey(device: string): string {
  return `net.ipv4.conf.${device.replace(/\./g, "/")}.forwarding`;
}

export class SiteFirewall {
  readonly #run: CommandRunner;
  readonly #interfaceName: string;
  /** Forwarding settings (sysctl keys) this firewall changed, with their value before. */
  readonly #forwarding = new Map<string, string>();
  #installed = false;

  constructor(interfaceName: string, run: CommandRunner = runCommand) {
    this.#interfaceName = interfaceName;
    this.#run = run;
  }

  /**
   * Replaces the site's table with one for `input` and enables forwarding where needed.
   *
   * @throws {DomainError} internal when nft refuses the table (the previous one stays)
   */
  async apply(input: Omit<SiteRulesInput, "interfaceName">): Promise<void> {
    const script = siteRuleset({ ...input, interfaceName: this.#interfaceName });
    const result = await this.#run(["nft", "-f", "-"], script);
    if (result.code !== 0) {
      throw new DomainError(
        "internal",
        `cannot install the site's firewall (nft): ${result.stderr || result.stdout}`,
      );
    }
    this.#installed = true;
    const keys = new Set([ipv4ForwardingKey(this.#interfaceName)]);
    for (const grant of input.grants) {
      for (const destination of grant.destinations) {
        const cidr = parseCidr(destination);
        if (cidr?.bytes.length === 16) {
          keys.add(IPV6_FORWARDING_KEY);
          continue;
        }
        const device = cidr ? await this.#routeDevice(formatIp(cidr.bytes)) : null;
        if (device) keys.add(ipv4ForwardingKey(device));
      }
    }
    for (const key of keys) await this.#enableForwarding(key);
  }

  /** The interface the host routes `address` through, or null. */
  async #routeDevice(address: string): Promise<string | null> {
    const result = await this.#run(["ip", "-o", "route", "get", address]);
    const match = / dev (\S+)/.exec(result.stdout);
    return result.code === 0 && match ? match[1] : null;
  }

  async #enableForwarding(key: string): Promise<void> {
    if (this.#forwarding.has(key)) return;
    const current = await this.#run(["sysctl", "-n", key]);
    if (current.code !== 0) {
      log.warn("site: cannot read forwarding", { key, error: current.stderr });
      return;
    }
    if (current.stdout === "1") return;
    const set = await this.#run(["sysctl", "-qw", `${key}=1`]);
    if (set.code !== 0) {
      log.warn("site: cannot turn forwarding on", { key, error: set.stderr });
      return;
    }
    this.#forwarding.set(key, current.stdout);
    log.info("site: forwarding turned on", { key });
  }

  /** Deletes the table and restores every forwarding setting it changed. */
  async close(): Promise<void> {
    if (this.#installed) {
      const result = await this.#run(["nft", "-f", "-"], siteRulesetRemoval(this.#interfaceName));
      if (result.code !== 0) log.warn("site: cannot remove the firewall", { error: result.stderr });
      this.#installed = false;
    }
    for (const [key, value] of this.#forwarding) {
      await this.#run(["sysctl", "-qw", `${key}=${value}`]);
    }
    this.#forwarding.clear();
  }
}
