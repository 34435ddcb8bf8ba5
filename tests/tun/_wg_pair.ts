// Test fixture: burrow's device and wireguard-go, each in its own namespace joined by a veth,
// configured with wg(8). Used by the interop, fuzz and life-cycle tests and the benchmark.

import {
  linkNamespaces,
  Netns,
  run,
  stopProcess,
  uniqueSuffix,
  waitFor,
} from "../_support/netns.ts";
import { generatePrivateKey, keyToBase64, publicKeyOf } from "../../src/curve25519/mod.ts";

export const REPO_ROOT = new URL("../../", import.meta.url).pathname;
export const BURROW = `${REPO_ROOT}burrow`;
export const UAPI_DIR = "/var/run/wireguard";

export interface KeyPair {
  privateKey: string;
  publicKey: string;
  /** A file holding the private key, for `wg set … private-key FILE`. */
  file: string;
}

export async function keyPair(directory: string): Promise<KeyPair> {
  const secret = generatePrivateKey();
  const file = `${directory}/${uniqueSuffix()}.key`;
  await Deno.writeTextFile(file, keyToBase64(secret) + "\n", { mode: 0o600 });
  return { privateKey: keyToBase64(secret), publicKey: keyToBase64(publicKeyOf(secret)), file };
}

export function socketPath(ifname: string): string {
  return `${UAPI_DIR}/${ifname}.sock`;
}

export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process still runs. */
export function processAlive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** `wg set` arguments giving `self` its key and port and `peer` as its peer (inner /32 and /128). */
export function wgSetPeerArgs(
  self: { ifname: string; keys: KeyPair; port: number },
  peer: { keys: KeyPair; inner4: string; inner6: string },
  endpoint?: string,
): string[] {
  return [
    "set",
    self.ifname,
    "private-key",
    self.keys.file,
    "listen-port",
    String(self.port),
    "peer",
    peer.keys.publicKey,
    "allowed-ips",
    `${peer.inner4}/32,${peer.inner6}/128`,
    ...(endpoint ? ["endpoint", endpoint] : []),
  ];
}

/** Which program runs a side. */
export type Implementation = "burrow" | "wireguard-go";

export interface Side {
  ns: Netns;
  ifname: string;
  keys: KeyPair;
  /** Outer (veth) addresses. */
  outer4: string;
  outer6: string;
  /** Tunnel addresses. */
  inner4: string;
  inner6: string;
  port: number;
  process: Deno.ChildProcess;
  implementation: Implementation;
}

export interface Pair {
  a: Side;
  b: Side;
  dir: string;
  /** Runs `wg ARGS` inside a side's namespace. */
  wg(side: Side, args: string[]): Promise<string>;
  destroy(): Promise<void>;
}

/** Starts a userspace WireGuard device in `ns` in the foreground and waits for its UAPI socket. */
export async function startImplementation(
  implementation: Implementation,
  ns: Netns,
  ifname: string,
  env: Record<string, string> = {},
): Promise<Deno.ChildProcess> {
  const cmd = implementation === "burrow" ? [BURROW, "wg", "-f", ifname] : [
    "wireguard-go",
    "-f",
    ifname,
  ];
  const child = ns.spawn(cmd, {
    env: { LOG_LEVEL: "error", ...env },
    // wireguard-go prints a banner about the kernel module on stderr.
    stderr: "null",
  });
  return await untilSocket(child, `${implementation} ${ifname}`, ifname);
}

/** Waits for the UAPI socket of `ifname`; stops `child` when it does not come. */
export async function untilSocket(
  child: Deno.ChildProcess,
  what: string,
  ifname: string,
): Promise<Deno.ChildProcess> {
  try {
    await waitFor(`${what} to create its socket`, () => exists(socketPath(ifname)), 20_000);
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return child;
}

/**
 * Two namespaces, A running `implA` and B running `implB`, joined by a veth with IPv4 and IPv6
 * addresses, each device given a key, a port, tunnel addresses and the other as its peer.
 */
export async function createPair(
  implA: Implementation,
  implB: Implementation,
  options: { outerFamily?: 4 | 6; net?: number; env?: Record<string, string> } = {},
): Promise<Pair> {
  const net = options.net ?? 71;
  const dir = await Deno.makeTempDir({ prefix: "bwg" });
  const cleanups: (() => Promise<unknown>)[] = [() => Deno.remove(dir, { recursive: true })];
  const destroy = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    const nsA = await Netns.create("bwg");
    cleanups.push(() => nsA.destroy());
    const nsB = await Netns.create("bwg");
    cleanups.push(() => nsB.destroy());
    await linkNamespaces(nsA, nsB, [`10.${net}.0.1/24`, `fd${net}::1/64`], [
      `10.${net}.0.2/24`,
      `fd${net}::2/64`,
    ]);
    const makeSide = async (
      ns: Netns,
      implementation: Implementation,
      host: number,
    ): Promise<Side> => {
      const ifname = `bwg${implementation === "burrow" ? "b" : "g"}${uniqueSuffix()}`;
      const process = await startImplementation(implementation, ns, ifname, options.env);
      cleanups.push(async () => {
        await stopProcess(process);
        await Deno.remove(socketPath(ifname)).catch(() => {});
      });
      return {
        ns,
        ifname,
        keys: await keyPair(dir),
        outer4: `10.${net}.0.${host}`,
        outer6: `fd${net}::${host}`,
        inner4: `10.${net + 1}.0.${host}`,
        inner6: `fd${net + 1}::${host}`,
        port: 51820 + host,
        process,
        implementation,
      };
    };
    const a = await makeSide(nsA, implA, 1);
    const b = await makeSide(nsB, implB, 2);
    const wg = async (side: Side, args: string[]) => (await side.ns.exec(["wg", ...args])).stdout;
    const outerOf = (side: Side) =>
      options.outerFamily === 6 ? `[${side.outer6}]:${side.port}` : `${side.outer4}:${side.port}`;
    for (const [self, other] of [[a, b], [b, a]] as const) {
      await wg(self, wgSetPeerArgs(self, other, outerOf(other)));
      await self.ns.exec(["ip", "addr", "add", `${self.inner4}/24`, "dev", self.ifname]);
      await self.ns.exec([
        "ip",
        "-6",
        "addr",
        "add",
        `${self.inner6}/64`,
        "dev",
        self.ifname,
        "nodad",
      ]);
      await self.ns.exec(["ip", "link", "set", self.ifname, "up"]);
    }
    return { a, b, dir, wg, destroy };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** Pings `address` from `side` until it answers (a handshake may take a moment). */
export async function pingUntilAnswered(side: Side, address: string, timeoutMs = 15_000) {
  await waitFor(
    `${side.ifname} to reach ${address}`,
    async () =>
      (await side.ns.exec(["ping", "-c", "1", "-W", "1", address], { check: false })).code === 0,
    timeoutMs,
    100,
  );
}

/** One peer line of `wg show IF dump`. */
export interface DumpPeer {
  publicKey: string;
  presharedKey: string;
  endpoint: string;
  allowedIps: string;
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  keepalive: string;
}

export function parseDump(text: string): { device: string[]; peers: DumpPeer[] } {
  const lines = text.trim().split("\n").map((line) => line.split("\t"));
  const peers = lines.slice(1).map((f) => ({
    publicKey: f[0],
    presharedKey: f[1],
    endpoint: f[2],
    allowedIps: f[3],
    latestHandshake: Number(f[4]),
    rxBytes: Number(f[5]),
    txBytes: Number(f[6]),
    keepalive: f[7],
  }));
  return { device: lines[0], peers };
}

/** The pid of a process started inside a namespace by `ip netns exec` (its child after exec). */
export async function pidsOf(pattern: string): Promise<number[]> {
  const result = await run(["pgrep", "-f", pattern], { check: false });
  return result.stdout.split(/\s+/).filter(Boolean).map(Number).filter((pid) => pid !== Deno.pid);
}
