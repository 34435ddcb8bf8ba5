// `--override-dns` (as in Olm): while connected, the host asks the DNS proxy. With
// systemd-resolved, split DNS on the tunnel interface (only the aliases' domains go to the
// proxy; `resolvectl revert` undoes it and so does the interface going away). Without it,
// /etc/resolv.conf is rewritten in place (it may be a bind mount) to name the proxy, its
// original saved first in the state directory; disconnecting writes the original back, and
// the next start after a crash finds the saved copy and repairs the file.

import { log } from "../log/mod.ts";
import { removeFile, writeFileAtomic } from "../state/mod.ts";

export const RESOLV_CONF = "/etc/resolv.conf";
export const RESOLV_BACKUP_FILE = "resolv.conf.before-burrow";
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
  readonly #resolvConf: string;
  readonly #resolved: () => Promise<boolean>;
  readonly #run: (argv: string[]) => Promise<{ code: number; stderr: string }>;
  #active: { kind: "resolved"; interfaceName: string } | { kind: "file" } | null = null;

  constructor(options: DnsOverrideOptions) {
    this.#backup = `${options.stateDir}/${RESOLV_BACKUP_FILE}`;
    this.#resolvConf = options.resolvConf ?? RESOLV_CONF;
    this.#run = options.run ?? runQuietly;
    this.#resolved = options.resolved ??
      (async () => (await this.#run(["resolvectl", "status"])).code === 0);
  }

  /** Puts back a resolv.conf a crashed agent left overridden; no-op without a saved copy. */
  async repair(): Promise<void> {
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
      const dns = await this.#run(["resolvectl", "dns", interfaceName, server]);
      const domains = routingDomains(aliases);
      const domain = await this.#run(["resolvectl", "domain", interfaceName, ...domains]);
      if (dns.code !== 0 || domain.code !== 0) {
        throw new Error(`resolvectl refused: ${dns.stderr || domain.stderr}`);
      }
      this.#active = { kind: "resolved", interfaceName };
      log.info("dns: split DNS through systemd-resolved", { interface: interfaceName, domains });
      return;
    }
    await this.repair(); // never save an overridden file as the original
    const original = await Deno.readTextFile(this.#resolvConf).catch(() => "");
    await writeFileAtomic(this.#backup, original);
    await Deno.writeTextFile(this.#resolvConf, overriddenResolvConf(original, server));
    this.#active = { kind: "file" };
    log.info("dns: resolv.conf points at the proxy", { file: this.#resolvConf, server });
  }

  /** Updates the split domains (systemd-resolved); the file mode needs nothing. */
  async aliasesChanged(aliases: readonly string[]): Promise<void> {
    if (this.#active?.kind !== "resolved") return;
    await this.#run([
      "resolvectl",
      "domain",
      this.#active.interfaceName,
      ...routingDomains(aliases),
    ]);
  }

  /** Undoes `apply`. */
  async revert(): Promise<void> {
    const active = this.#active;
    this.#active = null;
    if (active?.kind === "resolved") {
      await this.#run(["resolvectl", "revert", active.interfaceName]);
    } else if (active?.kind === "file") {
      await this.repair();
    }
  }
}
