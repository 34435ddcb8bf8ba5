// Test fixture: the topology of wireguard.com/netns and the kernel's WireGuard selftest
// (tools/testing/selftests/wireguard/netns.sh). Both devices are started in a birthplace namespace
// ns0 that keeps their processes, UDP sockets and UAPI sockets and talks over its loopback
// (127.0.0.1, ::1); their interfaces are then moved into ns1 and ns2, where the traffic starts.
//
//   ns1: wg1 192.168.241.1/24 fd00::1/112 ── ns0: lo 127.0.0.1 ::1 ── ns2: wg2 192.168.241.2/24 fd00::2/112
//
// `one` is burrow; `two` is burrow or Debian's wireguard-go.

import {
  type Netns,
  NetnsGroup,
  run,
  stopProcess,
  uniqueSuffix,
  waitFor,
} from "../_support/netns.ts";
import {
  BURROW,
  type Implementation,
  type KeyPair,
  keyPair,
  socketPath,
  startImplementation,
  untilSocket,
  wgSetPeerArgs,
} from "./_wg_pair.ts";

export interface Member {
  /** Where the interface lives (ns1 or ns2). */
  ns: Netns;
  ifname: string;
  keys: KeyPair;
  /** Inner addresses. */
  inner4: string;
  inner6: string;
  port: number;
  process: Deno.ChildProcess;
  implementation: Implementation;
}

export interface Birthplace {
  ns0: Netns;
  one: Member;
  two: Member;
  dir: string;
  /** Runs `wg ARGS` in the birthplace (where the UAPI sockets are served). */
  wg(args: string[]): Promise<string>;
  /** Points each member at the other's listen port on `host` (127.0.0.1 or ::1). */
  outer(host: "127.0.0.1" | "::1"): Promise<void>;
  destroy(): Promise<void>;
}

/** A member numbered `host` (inner 192.168.241.host, fd00::host), with a fresh key in `dir`. */
export async function newMember(
  implementation: Implementation,
  process: Deno.ChildProcess,
  ns: Netns,
  ifname: string,
  host: number,
  port: number,
  dir: string,
): Promise<Member> {
  return {
    ns,
    ifname,
    keys: await keyPair(dir),
    inner4: `192.168.241.${host}`,
    inner6: `fd00::${host}`,
    port,
    process,
    implementation,
  };
}

/** `host:port` as wg(8) takes it. */
export function endpointText(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Starts both devices in ns0, moves their interfaces to ns1 and ns2 and configures them. */
export async function createBirthplace(
  two: Implementation = "wireguard-go",
  options: {
    ports?: [number, number];
    /** Start `one` with WG_TUN_FD, a TUN its parent opened plain or with IFF_VNET_HDR. */
    inheritedTun?: "plain" | "vnet";
  } = {},
): Promise<Birthplace> {
  const group = new NetnsGroup();
  const dir = await Deno.makeTempDir({ prefix: "bwgn" });
  const processes: { child: Deno.ChildProcess; ifname: string }[] = [];
  const destroy = async () => {
    for (const { child, ifname } of processes.reverse()) {
      await stopProcess(child);
      await Deno.remove(socketPath(ifname)).catch(() => {});
    }
    await group.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const ns0 = await group.create("bwgn0");
    const ns1 = await group.create("bwgn1");
    const ns2 = await group.create("bwgn2");
    const wg = async (args: string[]) => (await ns0.exec(["wg", ...args])).stdout;
    const [port1, port2] = options.ports ?? [10001, 10002];
    const member = async (
      implementation: Implementation,
      ns: Netns,
      host: number,
      port: number,
    ): Promise<Member> => {
      const ifname = `bwn${host}${uniqueSuffix()}`;
      const process = implementation === "burrow" && options.inheritedTun
        ? await startInherited(ns0, ifname, options.inheritedTun)
        : await startImplementation(implementation, ns0, ifname);
      processes.push({ child: process, ifname });
      // The interface leaves the birthplace; the process and its sockets stay there.
      await run(["ip", "-n", ns0.name, "link", "set", ifname, "netns", ns.name]);
      return await newMember(implementation, process, ns, ifname, host, port, dir);
    };
    const one = await member("burrow", ns1, 1, port1);
    const other = await member(two, ns2, 2, port2);
    for (const [self, peer] of [[one, other], [other, one]] as const) {
      await self.ns.exec(["ip", "addr", "add", `${self.inner4}/24`, "dev", self.ifname]);
      await self.ns.exec(["ip", "addr", "add", `${self.inner6}/112`, "dev", self.ifname, "nodad"]);
      await wg(wgSetPeerArgs(self, peer));
      await self.ns.exec(["ip", "link", "set", "up", "dev", self.ifname]);
    }
    const outer = async (host: "127.0.0.1" | "::1") => {
      for (const [self, peer] of [[one, other], [other, one]] as const) {
        await setEndpoint(ns0, self, peer, endpointText(host, peer.port));
      }
    };
    await outer("127.0.0.1");
    return { ns0, one, two: other, dir, wg, outer, destroy };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** The parent wireguard-go's wg-quick would be: opens the TUN, hands it to `burrow wg` (WG_TUN_FD). */
async function startInherited(
  ns: Netns,
  ifname: string,
  tun: "plain" | "vnet",
): Promise<Deno.ChildProcess> {
  const opener = `
    import { openTunInherited } from "${new URL("./_inherit_fds.ts", import.meta.url).pathname}";
    const tun = openTunInherited(Deno.args[0], Deno.args[1] === "vnet");
    const child = new Deno.Command(Deno.args[2], {
      args: ["wg", Deno.args[0]],
      env: { WG_PROCESS_FOREGROUND: "1", WG_TUN_FD: String(tun), LOG_LEVEL: "error" },
      stdout: "inherit", stderr: "inherit",
    }).spawn();
    Deno.exit((await child.status).code);
  `;
  const child = ns.spawn([Deno.execPath(), "eval", opener, ifname, tun, BURROW]);
  return await untilSocket(child, `burrow ${ifname}`, ifname);
}

/** Points `self`'s peer `peer` at `endpoint`, with `wg` run in `wgNs` (where the UAPI socket is). */
export async function setEndpoint(
  wgNs: Netns,
  self: Member,
  peer: Member,
  endpoint: string,
): Promise<void> {
  await wgNs.exec(["wg", "set", self.ifname, "peer", peer.keys.publicKey, "endpoint", endpoint]);
}

/** The endpoint `self` has for `peer` now, as `wg show IF endpoints` says. */
export async function endpointOf(wgNs: Netns, self: Member, peer: Member): Promise<string> {
  const shown = await wgNs.exec(["wg", "show", self.ifname, "endpoints"]);
  const line = shown.stdout.trim().split("\n").find((l) => l.startsWith(peer.keys.publicKey));
  return line?.split("\t")[1] ?? "";
}

/** Runs `body` on a fresh birthplace topology and always tears it down. */
export async function withBirthplace(
  two: Implementation,
  body: (b: Birthplace) => Promise<void>,
): Promise<void> {
  const b = await createBirthplace(two);
  try {
    await body(b);
  } finally {
    await b.destroy();
  }
}

/** Pings until one answer comes back (the first may wait for a handshake). */
export async function pingOnce(ns: Netns, address: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    `${ns.name} to reach ${address}`,
    async () =>
      (await ns.exec(["ping", "-c", "1", "-W", "1", address], { check: false })).code === 0,
    timeoutMs,
    100,
  );
}

/** An interface's byte counters as `ip -stats link` shows them (the kernel's own counting). */
export async function linkBytes(ns: Netns, ifname: string): Promise<{ rx: number; tx: number }> {
  const shown = JSON.parse(
    (await ns.exec(["ip", "-j", "-s", "link", "show", "dev", ifname])).stdout,
  );
  return { rx: shown[0].stats64.rx.bytes, tx: shown[0].stats64.tx.bytes };
}
