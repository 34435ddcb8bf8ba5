// `--override-dns` (as in Olm): while connected, the host asks the DNS proxy. With
// systemd-resolved, split DNS on the tunnel interface (only the aliases' domains go to the
// proxy; `resolvectl revert` undoes it and so does the interface going away); the interface's
// name is noted in the state directory first, so the next start after a crash reverts it too
// (a tunnel interface that outlived the agent keeps its settings otherwise). Without it,
// /etc/resolv.conf is rewritten in place (it may be a bind mount) to name the proxy, its
// original saved first in the state directory; disconnecting writes the original back, and
// the next start after a crash finds the saved copy and repairs the file.

import { log } from "../log/mod.ts";
import { removeFile, writeFileAtomic } from "../state/mod.ts";

export const RESOLV_CONF = "/etc/resolv.conf";
export const RESOLV_BACKUP_FILE = "resolv.conf.before-burrow";
/** Holds the name of the interface whose systemd-resolved settings burrow set. */
export const RESOLVED_LINK_FILE = "resolved-link.burrow";
const MARKER = "# written by burrow --override-dns; the original comes back on disconnect";

export interface DnsOverrideOptions {
  stateDir: string;
  /** @default /etc/resolv.conf */
  resolvConf?: string;
  /** Whether to use resolvectl; @default when it answers `resolvectl status` */
  resolved?: () => Promise<boolean>;
  run?: (argv: string[]) => Promise<{ code: number; stderr: string }>;
}

async function runQuietly(argv: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const out = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdout: "null",
      stderr: "piped",
    })
      .output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
  } catch (error) {
    return { code: -1, stderr: String(error) };
  }
}

/** The domains systemd-resolved should send to the proxy: each alias, wildcards as their parent. */
export function routingDomains(aliases: readonly string[]): string[] {
  const out = new Set<string>();
  for (const alias of aliases) {
    const name = alias.toLowerCase().replace(/\.$/, "");
    const labels = name.split(".");
    while (labels.length && /[*?]/.test(labels[0])) labels.shift();
    if (labels.length) out.add(`~${labels.join(".")}`);
  }
  return [...out].sort();
}

/** A resolv.conf naming only `server`, keeping the original's search and options lines. */
export function overriddenResolvConf(original: string, server: string): string {
  const kept = original.split("\n").filter((line) => /^\s*(search|domain|options)\b/.test(line));
  return [MARKER, `nameserver ${server}`, ...kept].join("\n") + "\n";
}

export class DnsOverride {
  readonly #backup: string;
  readonly #linkFile: string;
  readonly #resolvConf: string;
  readonly #resolved: () => Promise<boolean>;
  readonly #run: (argv: string[]) => Promise<{ code: number; stderr: string }>;
  #active:
    | { kind: "resolved"; interfaceName: string; domains: string[] }
    | { kind: "file" }
    | null = null;

  constructor(options: DnsOverrideOptions) {
    this.#backup = `${options.stateDir}/${RESOLV_BACKUP_FILE}`;
    this.#linkFile = `${options.stateDir}/${RESOLVED_LINK_FILE}`;
    this.#resolvConf = options.resolvConf ?? RESOLV_CONF;
    this.#run = options.run ?? runQuietly;
    this.#resolved = options.resolved ??
      (async () => (await this.#run(["resolvectl", "status"])).code === 0);
  }

  /**
   * Undoes what a crashed agent left: reverts the systemd-resolved settings of the interface it
   * noted, and puts back a resolv.conf it overrode; no-op when nothing was left.
   */
  async repair(): Promise<void> {
    await this.#repairResolved();
    await this.#repairFile();
  }

  async #repairResolved(): Promise<void> {
    let interfaceName: string;
    try {
      interfaceName = (await Deno.readTextFile(this.#linkFile)).trim();
    } catch {
      return;
    }
    // Refused when the interface is gone, which resets its settings anyway.
    if (/^[^\s/]{1,15}$/.test(interfaceName)) {
      await this.#run(["resolvectl", "revert", interfaceName]);
    }
    await removeFile(this.#linkFile);
    log.info("dns: reverted the systemd-resolved settings a previous run left", {
      interface: interfaceName,
    });
  }

  async #repairFile(): Promise<void> {
    let original: string;
    try {
      original = await Deno.readTextFile(this.#backup);
    } catch {
      return;
    }
    await Deno.writeTextFile(this.#resolvConf, original);
    await removeFile(this.#backup);
    log.info("dns: restored the resolver configuration a previous run left", {
      file: this.#resolvConf,
    });
  }

  /** Points the host at `server` (split by `aliases` with systemd-resolved). */
  async apply(server: string, interfaceName: string, aliases: readonly string[]): Promise<void> {
    if (await this.#resolved()) {
      // Noted before the first change, so a crash at any point leaves something to repair.
      await writeFileAtomic(this.#linkFile, `${interfaceName}\n`);
      const domains = routingDomains(aliases);
      const dns = await this.#run(["resolvectl", "dns", interfaceName, server]);
      const domain = dns.code === 0
        ? await this.#run(["resolvectl", "domain", interfaceName, ...domains])
        : dns;
      if (domain.code !== 0) {
        // Nothing half-applied: the server without its domains would take every query.
        await this.#run(["resolvectl", "revert", interfaceName]);
        await removeFile(this.#linkFile);
        throw new Error(`resolvectl refused: ${domain.stderr}`);
      }
      this.#active = { kind: "resolved", interfaceName, domains };
      log.info("dns: split DNS through systemd-resolved", { interface: interfaceName, domains });
      return;
    }
    await this.#repairFile(); // never save an overridden file as the original
    const original = await Deno.readTextFile(this.#resolvConf).catch(() => "");
    await writeFileAtomic(this.#backup, original);
    await Deno.writeTextFile(this.#resolvConf, overriddenResolvConf(original, server));
    this.#active = { kind: "file" };
    log.info("dns: resolv.conf points at the proxy", { file: this.#resolvConf, server });
  }

  /** Updates the split domains when they changed (systemd-resolved); the file mode needs nothing. */
  async aliasesChanged(aliases: readonly string[]): Promise<void> {
    const active = this.#active;
    if (active?.kind !== "resolved") return;
    const domains = routingDomains(aliases);
    if (domains.join(" ") === active.domains.join(" ")) return;
    active.domains = domains;
    const domain = await this.#run(["resolvectl", "domain", active.interfaceName, ...domains]);
    if (domain.code !== 0) {
      log.warn("dns: resolvectl refused the new routing domains", { error: domain.stderr });
    }
  }

  /** Undoes `apply`. */
  async revert(): Promise<void> {
    const active = this.#active;
    this.#active = null;
    if (active?.kind === "resolved") {
      await this.#run(["resolvectl", "revert", active.interfaceName]);
      await removeFile(this.#linkFile);
    } else if (active?.kind === "file") {
      await this.#repairFile();
    }
  }
}
