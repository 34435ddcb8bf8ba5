// Test hosts on one machine: network namespaces joined by veth pairs that a test
// creates itself and always removes, plus helpers to run and wait inside them.

/** Whether this process can create namespaces and TUN devices (root with /dev/net/tun). */
export function netnsCapability(): { ok: true } | { ok: false; reason: string } {
  if (Deno.uid() !== 0) return { ok: false, reason: "needs root for network namespaces" };
  try {
    Deno.statSync("/dev/net/tun");
  } catch {
    return { ok: false, reason: "needs /dev/net/tun" };
  }
  return { ok: true };
}

/** `Deno.test` options that skip, with the reason printed, when namespaces are unavailable. */
export function netnsTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): Deno.TestDefinition {
  const capability = netnsCapability();
  if (!capability.ok) console.log(`skipping "${name}": ${capability.reason}`);
  return { name, ignore: !capability.ok, fn, sanitizeResources: true, sanitizeOps: true };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; throws with its stderr when it fails and `check` is set. */
export async function run(
  cmd: string[],
  options: { check?: boolean; stdin?: string } = {},
): Promise<CommandResult> {
  const command = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const result = {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
  if ((options.check ?? true) && result.code !== 0) {
    throw new Error(
      `${cmd.join(" ")} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result;
}

/** A short random suffix so parallel tests never share a name. */
export function uniqueSuffix(): string {
  return Math.random().toString(36).slice(2, 7);
}

type Stdio = "piped" | "null" | "inherit";

export interface SpawnOptions {
  env?: Record<string, string>;
  /** @default "null" */
  stdin?: "piped" | "null";
  /** @default "null" */
  stdout?: Stdio;
  /** @default "null" */
  stderr?: Stdio;
}

/** Starts a long-running process on this host; stop it with {@linkcode stopProcess}. */
export function spawn(cmd: string[], options: SpawnOptions = {}): Deno.ChildProcess {
  return new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env: options.env,
    stdin: options.stdin ?? "null",
    stdout: options.stdout ?? "null",
    stderr: options.stderr ?? "null",
  }).spawn();
}

/** A network namespace owned by a test. */
export class Netns {
  private constructor(readonly name: string) {}

  static async create(prefix: string): Promise<Netns> {
    const ns = new Netns(`${prefix}-${uniqueSuffix()}`);
    await run(["ip", "netns", "add", ns.name]);
    await ns.exec(["ip", "link", "set", "lo", "up"]);
    return ns;
  }

  /** The argv prefix that runs a command inside this namespace. */
  wrap(cmd: string[]): string[] {
    return ["ip", "netns", "exec", this.name, ...cmd];
  }

  exec(cmd: string[], options?: { check?: boolean; stdin?: string }): Promise<CommandResult> {
    return run(this.wrap(cmd), options);
  }

  /** Starts a long-running process inside the namespace; stop it with {@linkcode stopProcess}. */
  spawn(cmd: string[], options: SpawnOptions = {}): Deno.ChildProcess {
    return spawn(this.wrap(cmd), options);
  }

  /** Deletes the namespace, killing whatever still runs in it. */
  async destroy(): Promise<void> {
    const pids = await run(["ip", "netns", "pids", this.name], { check: false });
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* already gone */ }
    }
    await run(["ip", "netns", "del", this.name], { check: false });
  }
}

/**
 * Joins two namespaces with a veth pair and gives each end an address (IPv4 and/or IPv6 CIDRs).
 *
 * @returns the interface names on each side
 */
export async function linkNamespaces(
  a: Netns,
  b: Netns,
  addressesA: string[],
  addressesB: string[],
): Promise<{ ifA: string; ifB: string }> {
  const id = uniqueSuffix();
  const ifA = `va${id}`, ifB = `vb${id}`;
  await run([
    "ip",
    "link",
    "add",
    ifA,
    "netns",
    a.name,
    "type",
    "veth",
    "peer",
    "name",
    ifB,
    "netns",
    b.name,
  ]);
  for (const [ns, ifname, addresses] of [[a, ifA, addressesA], [b, ifB, addressesB]] as const) {
    for (const address of addresses) {
      // nodad: IPv6 addresses are usable at once instead of after duplicate detection.
      await ns.exec([
        "ip",
        "addr",
        "add",
        address,
        "dev",
        ifname,
        ...(address.includes(":") ? ["nodad"] : []),
      ]);
    }
    await ns.exec(["ip", "link", "set", ifname, "up"]);
  }
  return { ifA, ifB };
}

/** Namespaces one test creates, destroyed together (last created first), even after a failed setup. */
export class NetnsGroup {
  readonly #members: Netns[] = [];

  async create(prefix: string): Promise<Netns> {
    const ns = await Netns.create(prefix);
    this.#members.push(ns);
    return ns;
  }

  /**
   * Creates a namespace joined to `peer` by a veth pair, with `addresses` on its own side and
   * `peerAddresses` on the peer's (CIDRs); `defaultRoute` sends everything else through the
   * peer's first address (e.g. an agent reaching the internet through the hub's host).
   */
  async createLinked(
    prefix: string,
    peer: Netns,
    options: { addresses: string[]; peerAddresses: string[]; defaultRoute?: boolean },
  ): Promise<Netns> {
    const ns = await this.create(prefix);
    await linkNamespaces(ns, peer, options.addresses, options.peerAddresses);
    if (options.defaultRoute) {
      const gateway = options.peerAddresses[0].split("/")[0];
      await ns.exec(["ip", "route", "add", "default", "via", gateway]);
    }
    return ns;
  }

  async destroy(): Promise<void> {
    for (const ns of this.#members.splice(0).reverse()) await ns.destroy().catch(() => {});
  }
}

/**
 * Sends SIGTERM, then SIGKILL after `graceMs`, and waits for the process; never throws.
 * The default grace leaves a burrow process time for its orderly shutdown (removing its
 * interface, its socket and its session), which tests check through the exit code.
 */
export async function stopProcess(
  child: Deno.ChildProcess,
  graceMs = 5000,
): Promise<Deno.CommandStatus> {
  try {
    child.kill("SIGTERM");
  } catch { /* already exited */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  }, graceMs);
  const status = await child.status;
  clearTimeout(timer);
  // Reading `stdout`/`stderr` of a child whose stream is not piped throws, so each is tried apart.
  for (const pick of [() => child.stdout, () => child.stderr]) {
    try {
      await pick().cancel();
    } catch { /* not piped, or already consumed */ }
  }
  return status;
}

/** Polls `probe` every `intervalMs` until it returns true; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch { /* not ready yet */ }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Waits until a TCP port accepts connections inside `ns` (or on this host when ns is null). */
export function waitForTcp(
  ns: Netns | null,
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<void> {
  return waitFor(
    `${host}:${port} to accept`,
    async () => {
      const cmd = ["bash", "-c", `exec 3<>/dev/tcp/${host}/${port}`];
      const result = await run(ns ? ns.wrap(cmd) : cmd, { check: false });
      return result.code === 0;
    },
    timeoutMs,
    100,
  );
}
