// What the kernel's WireGuard selftest (tools/testing/selftests/wireguard/netns.sh) expects of an
// implementation, asked of `burrow wg` in the same topologies: the birthplace namespace ns0 holds
// both processes and their sockets, the interfaces live in ns1 and ns2 (see _birthplace.ts);
// Debian's wireguard-go is the other end. Each behaviour is one test.
//
// Sizes: the selftest moves what iperf3 manages in 3 s; issue #12 asks for 1 GB each way, which
// on this machine's 2 shared cores would take minutes per direction. Each transfer here is
// TRANSFER_BYTES (64 MiB, or BURROW_WG_TRANSFER_MIB: `BURROW_WG_TRANSFER_MIB=1024` runs the full
// 1 GiB each way), so `make test` stays short; the counters are checked against what iperf3
// reports for exactly those bytes.

import { assert, assertEquals } from "../_support/assert.ts";
import {
  linkNamespaces,
  type Netns,
  NetnsGroup,
  netnsTest,
  stopProcess,
  uniqueSuffix,
  waitFor,
} from "../_support/netns.ts";
import {
  type Implementation,
  keyPair,
  socketPath,
  startImplementation,
  wgSetPeerArgs,
} from "./_wg_pair.ts";
import {
  type Birthplace,
  endpointOf,
  endpointText,
  linkBytes,
  type Member,
  newMember,
  pingOnce,
  setEndpoint,
  withBirthplace,
} from "./_birthplace.ts";

const TRANSFER_BYTES = transferMiB() * (1 << 20);

function transferMiB(): number {
  const text = Deno.env.get("BURROW_WG_TRANSFER_MIB") ?? "64";
  const mib = Number(text);
  if (!Number.isInteger(mib) || mib < 1 || mib > 4096) {
    throw new Error(
      `BURROW_WG_TRANSFER_MIB must be an integer 1-4096, not ${JSON.stringify(text)}`,
    );
  }
  return mib;
}

/** One test on a fresh birthplace topology with Debian's wireguard-go as the other end. */
function birthplaceTest(name: string, body: (b: Birthplace) => Promise<void>): void {
  Deno.test(netnsTest(name, () => withBirthplace("wireguard-go", body)));
}

/**
 * `ping -f` of `count` packets: every one answered. The selftest's `-W 1` gives the last reply
 * only two round trips once others came back, which a userspace device on two shared cores
 * misses now and then without losing anything; `-w 5` waits until all are answered (or 5 s).
 */
async function pingFlood(ns: Netns, address: string, count = 10): Promise<void> {
  const result = await ns.exec(["ping", "-c", String(count), "-f", "-w", "5", address], {
    check: false,
  });
  assertEquals(result.code, 0, `flood to ${address}: ${result.stdout}`);
  assert(result.stdout.includes(`${count} received`), result.stdout);
}

birthplaceTest(
  "ping floods over IPv4 and IPv6 inside, outer 127.0.0.1 and ::1, with exact link counters",
  async (b) => {
    const { one, two } = b;
    for (const host of ["127.0.0.1", "::1"] as const) {
      await b.outer(host);
      await pingOnce(two.ns, one.inner4);
      // 10 echo requests of 84 bytes in, 10 replies out: the TUN's own counters, as the kernel
      // counts them for the interface, move by exactly that.
      const before = await linkBytes(one.ns, one.ifname);
      await pingFlood(two.ns, one.inner4);
      const after = await linkBytes(one.ns, one.ifname);
      assertEquals(after.rx - before.rx, 840, "bytes written to the interface");
      assertEquals(after.tx - before.tx, 840, "bytes read from the interface");
      await pingFlood(one.ns, two.inner4);
      await pingFlood(two.ns, one.inner6);
      await pingFlood(one.ns, two.inner6);
      assertEquals(await endpointOf(b.ns0, two, one), `${endpointText(host, one.port)}`);
    }
    const handshakes = (await b.wg(["show", one.ifname, "latest-handshakes"])).trim();
    assert(Number(handshakes.split("\t")[1]) > 0, "a handshake time is reported");
  },
);

/** Waits until an iperf3 server listens on `port` in `ns` (a probe would use up a `-1` server). */
async function waitListening(ns: Netns, port: number): Promise<void> {
  await waitFor(
    `iperf3 to listen in ${ns.name}`,
    async () => {
      const shown = await ns.exec(["ss", "-tlnH", `sport = :${port}`]);
      return shown.stdout.trim() !== "";
    },
    10_000,
    50,
  );
}

interface IperfResult {
  sent: number;
  received: number;
}

/** One iperf3 run of TRANSFER_BYTES from `from` to `to`, TCP or UDP. */
async function iperf(
  from: Member,
  to: Member,
  address: string,
  udp: boolean,
): Promise<IperfResult> {
  const server = to.ns.spawn(["iperf3", "-s", "-1", "-B", address, "-p", "5201"]);
  try {
    await waitListening(to.ns, 5201);
    const args = ["iperf3", "-c", address, "-p", "5201", "-n", String(TRANSFER_BYTES), "-J"];
    // UDP at a fixed rate: a userspace device on two shared cores drops some of any flood (as
    // wireguard-go does); the counters below hold whatever arrives.
    if (udp) args.push("-u", "-b", "200M", "-l", "1300");
    const result = await from.ns.exec(args, { check: false });
    assertEquals(result.code, 0, result.stdout.slice(0, 2000));
    const report = JSON.parse(result.stdout);
    // The one-off server ends by itself once the test is over.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      server.status,
      new Promise((resolve) => timer = setTimeout(resolve, 5000)),
    ]);
    clearTimeout(timer);
    // sum_received is the server's own count (the client's UDP loss figure misses datagrams lost
    // at the very end; for TCP the server stops counting at the end, so it may be below what was
    // sent).
    return { sent: report.end.sum_sent.bytes, received: report.end.sum_received.bytes };
  } finally {
    await stopProcess(server, 2000);
  }
}

/**
 * One transfer each way, checked against the interfaces' kernel counters: what entered the
 * receiver's interface holds at least the payload iperf3 counted there, and at most what left the
 * sender's interface; that holds at most the payload sent plus 25% (TCP/IP 52 bytes a segment,
 * UDP/IP 28 a datagram, acknowledgements, retransmissions).
 */
async function transferBothWays(b: Birthplace, inner: 4 | 6, udp: boolean): Promise<void> {
  for (const [from, to] of [[b.one, b.two], [b.two, b.one]] as const) {
    const address = inner === 4 ? to.inner4 : to.inner6;
    const sentBefore = await linkBytes(from.ns, from.ifname);
    const receivedBefore = await linkBytes(to.ns, to.ifname);
    const result = await iperf(from, to, address, udp);
    const sent = (await linkBytes(from.ns, from.ifname)).tx - sentBefore.tx;
    const received = (await linkBytes(to.ns, to.ifname)).rx - receivedBefore.rx;
    const what = `${udp ? "UDP" : "TCP"} inner IPv${inner} ${from.implementation} -> ` +
      `${to.implementation} ${JSON.stringify(result)}`;
    assert(result.received >= (udp ? 0.2 : 0.8) * TRANSFER_BYTES, what);
    assert(received >= result.received, `${what}: rx ${received} below the payload received`);
    assert(received <= sent, `${what}: rx ${received} above tx ${sent}`);
    assert(sent <= result.sent * 1.25, `${what}: tx ${sent} above the payload sent and headers`);
  }
}

for (const host of ["127.0.0.1", "::1"] as const) {
  birthplaceTest(
    `iperf3 TCP and UDP, inner IPv4 and IPv6, both ways, outer ${host}; ip -stats link ` +
      `counters match the bytes sent`,
    async (b) => {
      await b.outer(host);
      await pingOnce(b.one.ns, b.two.inner4);
      await transferBothWays(b, 4, false);
      await transferBothWays(b, 6, false);
      await transferBothWays(b, 4, true);
      await transferBothWays(b, 6, true);
    },
  );
}

birthplaceTest(
  "roaming: the peer changes its listen port and outer source address (IPv4, then IPv6); " +
    "burrow follows it",
  async (b) => {
    const { one, two } = b;
    await pingOnce(one.ns, two.inner4);
    // The birthplace's loopback address changes: the peer's datagrams now come from another one.
    await b.ns0.exec(["ip", "-4", "addr", "del", "127.0.0.1/8", "dev", "lo"]);
    await b.ns0.exec(["ip", "-4", "addr", "add", "127.212.121.99/8", "dev", "lo"]);
    await b.wg(["set", two.ifname, "listen-port", "9999"]);
    await setEndpoint(b.ns0, two, one, `127.0.0.1:${one.port}`);
    await pingOnce(two.ns, one.inner6, 5_000);
    assertEquals(await endpointOf(b.ns0, one, two), `127.212.121.99:9999`);
    await b.wg(["set", two.ifname, "listen-port", "9998"]);
    await setEndpoint(b.ns0, two, one, `[::1]:${one.port}`);
    await pingOnce(two.ns, one.inner4, 5_000);
    assertEquals(await endpointOf(b.ns0, one, two), `[::1]:9998`);
  },
);

birthplaceTest("re-handshake after burrow's listen port changes (IPv4, then IPv6)", async (b) => {
  const { one, two } = b;
  await pingOnce(one.ns, two.inner4);
  for (const [port, host] of [[9999, "127.0.0.1"], [9998, "::1"]] as const) {
    await b.wg(["set", one.ifname, "listen-port", String(port)]);
    await setEndpoint(b.ns0, one, two, endpointText(host, two.port));
    await pingOnce(one.ns, two.inner6, 5_000);
    assertEquals(await endpointOf(b.ns0, two, one), `${endpointText(host, port)}`);
    assertEquals((await b.wg(["show", one.ifname, "listen-port"])).trim(), String(port));
  }
  // A new private key on burrow's side, and a handshake at once (the selftest's key change).
  const fresh = await keyPair(b.dir);
  await b.wg(["set", one.ifname, "private-key", fresh.file]);
  await b.wg([
    "set",
    two.ifname,
    "peer",
    fresh.publicKey,
    "allowed-ips",
    `${one.inner4}/32,${one.inner6}/128`,
    "peer",
    one.keys.publicKey,
    "remove",
  ]);
  // At once: within the 5 s a throttled initiation would wait.
  await pingOnce(one.ns, two.inner4, 3_000);
});

/** Receives UDP datagrams on `address`:1111 in `ns`; `text()` is what arrived so far. */
function udpSink(ns: Netns, address: string): { text(): string; stop(): Promise<void> } {
  const child = ns.spawn(["socat", "-u", `UDP4-RECV:1111,bind=${address}`, "STDOUT"], {
    stdout: "piped",
  });
  let received = "";
  const reading = (async () => {
    for await (const chunk of child.stdout) received += new TextDecoder().decode(chunk);
  })();
  return {
    text: () => received,
    stop: async () => {
      await stopProcess(child, 1000);
      await reading.catch(() => {});
    },
  };
}

async function sendUdp(ns: Netns, address: string, text: string): Promise<void> {
  await ns.exec(["bash", "-c", `printf %s ${text} | socat -u STDIN UDP4-SENDTO:${address}:1111`]);
}

birthplaceTest(
  "cryptokey routing filter: once allowed IPs move to a more specific peer, packets from the " +
    "old peer with that source are dropped",
  async (b) => {
    const { one, two } = b;
    await b.wg([
      "set",
      one.ifname,
      "peer",
      two.keys.publicKey,
      "allowed-ips",
      "192.168.241.0/24",
    ]);
    await pingOnce(two.ns, one.inner4);
    const first = udpSink(one.ns, one.inner4);
    try {
      await waitListeningUdp(one.ns);
      await sendUdp(two.ns, one.inner4, "X");
      await waitFor("the datagram to arrive", () => first.text() === "X", 3_000);
    } finally {
      await first.stop();
    }
    const moreSpecific = await keyPair(b.dir);
    await b.wg([
      "set",
      one.ifname,
      "peer",
      moreSpecific.publicKey,
      "allowed-ips",
      `${two.inner4}/32`,
    ]);
    await b.wg(["set", two.ifname, "listen-port", "9997"]);
    const second = udpSink(one.ns, one.inner4);
    try {
      await waitListeningUdp(one.ns);
      await sendUdp(two.ns, one.inner4, "X");
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assertEquals(second.text(), "", "the filtered datagram never arrives");
    } finally {
      await second.stop();
    }
    await b.wg(["set", one.ifname, "peer", moreSpecific.publicKey, "remove"]);
    // The datagram was authentic, so the peer's new port was learnt all the same.
    assertEquals(await endpointOf(b.ns0, one, two), `127.0.0.1:9997`);
  },
);

async function waitListeningUdp(ns: Netns): Promise<void> {
  await waitFor(
    `socat to listen in ${ns.name}`,
    async () => {
      const shown = await ns.exec(["ss", "-ulnH", "sport = :1111"]);
      return shown.stdout.trim() !== "";
    },
    5_000,
    50,
  );
}

/** A device started directly in `ns` (no birthplace), configured there. */
async function startIn(
  implementation: Implementation,
  ns: Netns,
  host: number,
  port: number,
  dir: string,
  cleanups: (() => Promise<unknown>)[],
): Promise<Member> {
  const ifname = `bwk${host}${uniqueSuffix()}`;
  const process = await startImplementation(implementation, ns, ifname);
  cleanups.push(async () => {
    await stopProcess(process);
    await Deno.remove(socketPath(ifname)).catch(() => {});
  });
  const member = await newMember(implementation, process, ns, ifname, host, port, dir);
  await ns.exec(["ip", "addr", "add", `${member.inner4}/24`, "dev", ifname]);
  await ns.exec(["ip", "addr", "add", `${member.inner6}/112`, "dev", ifname, "nodad"]);
  return member;
}

/** Gives each member the other as its peer (no endpoint) and brings the interfaces up. */
async function peerUp(one: Member, two: Member): Promise<void> {
  for (const [self, peer] of [[one, two], [two, one]] as const) {
    await self.ns.exec(["wg", ...wgSetPeerArgs(self, peer)]);
    await self.ns.exec(["ip", "link", "set", "up", "dev", self.ifname]);
  }
}

async function withDirect(
  body: (
    group: NetnsGroup,
    start: (
      implementation: Implementation,
      ns: Netns,
      host: number,
      port: number,
    ) => Promise<Member>,
  ) => Promise<void>,
): Promise<void> {
  const group = new NetnsGroup();
  const dir = await Deno.makeTempDir({ prefix: "bwgk" });
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    await body(
      group,
      (implementation, ns, host, port) => startIn(implementation, ns, host, port, dir, cleanups),
    );
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await group.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test(
  netnsTest("through a SNAT router, persistent keepalive keeps the mapping alive", async () => {
    await withDirect(async (group, start) => {
      const ns0 = await group.create("bwkr");
      const ns1 = await group.createLinked("bwkc", ns0, {
        addresses: ["192.168.1.100/24"],
        peerAddresses: ["192.168.1.1/24"],
        defaultRoute: true,
      });
      const ns2 = await group.createLinked("bwks", ns0, {
        addresses: ["10.0.0.100/24"],
        peerAddresses: ["10.0.0.1/24"],
      });
      await ns0.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
      await ns0.exec([
        "nft",
        [
          "add table ip nat;",
          "add chain ip nat post { type nat hook postrouting priority 100; };",
          "add rule ip nat post ip saddr 192.168.1.0/24 ip daddr 10.0.0.0/24 snat to 10.0.0.1",
        ].join(" "),
      ]);
      // Conntrack forgets an idle UDP mapping after 2 s: only keepalives keep it.
      await ns0.exec(["sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=2"]);
      await ns0.exec(["sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout_stream=2"]);
      const one = await start("burrow", ns1, 1, 10001);
      const two = await start("wireguard-go", ns2, 2, 10002);
      await peerUp(one, two);
      const keepalive = (seconds: number, ...more: string[]) =>
        ns1.exec([
          "wg",
          "set",
          one.ifname,
          "peer",
          two.keys.publicKey,
          ...more,
          "persistent-keepalive",
          String(seconds),
        ]);
      await keepalive(1, "endpoint", `10.0.0.100:${two.port}`);
      await pingOnce(ns1, two.inner4);
      await pingOnce(ns2, one.inner4, 3_000);
      assertEquals(await endpointOf(ns2, two, one), `10.0.0.1:${one.port}`);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const late = await ns2.exec(["ping", "-c", "1", "-W", "1", one.inner4], { check: false });
      assertEquals(late.code, 0, "the router still maps the peer's datagrams to burrow");
      await keepalive(0);
    });
  }),
);

/** Pings once, with one second to answer, as the selftest does after each address change. */
async function pingNow(ns: Netns, address: string): Promise<void> {
  const result = await ns.exec(["ping", "-c", "1", "-W", "2", address], { check: false });
  assertEquals(result.code, 0, `${ns.name} -> ${address}: ${result.stdout}`);
}

/**
 * The selftest's "saddr routing is sticky but not too sticky", with `tested` answering on ns1's
 * side: replies leave from the address the peer contacted, and fall over to a new address once
 * that one is removed.
 */
async function stickiness(tested: Implementation): Promise<void> {
  await withDirect(async (group, start) => {
    const ns1 = await group.create("bwks1");
    const ns2 = await group.create("bwks2");
    const one = await start(tested, ns1, 1, 10001);
    const two = await start("wireguard-go", ns2, 2, 10002);
    await peerUp(one, two);
    const { ifA: veth1, ifB: veth2 } = await linkNamespaces(ns1, ns2, [], []);
    await ns1.exec(["sysctl", "-qw", `net.ipv4.conf.${veth1}.promote_secondaries=1`]);
    const addr = (ns: Netns, op: "add" | "del", cidr: string, dev: string) =>
      ns.exec([
        "ip",
        "addr",
        op,
        cidr,
        "dev",
        dev,
        ...(op === "add" && cidr.includes(":") ? ["nodad"] : []),
      ]);

    // Not too sticky: the address replies came from is removed; the next ones leave from the new.
    await addr(ns1, "add", "10.0.0.1/24", veth1);
    await addr(ns1, "add", "fd00:aa::1/96", veth1);
    await addr(ns2, "add", "10.0.0.2/24", veth2);
    await addr(ns2, "add", "fd00:aa::2/96", veth2);
    await setEndpoint(ns1, one, two, `10.0.0.2:${two.port}`);
    await pingOnce(ns1, two.inner4);
    await addr(ns1, "add", "10.0.0.10/24", veth1);
    await addr(ns1, "del", "10.0.0.1/24", veth1);
    await pingNow(ns1, two.inner4);
    await setEndpoint(ns1, one, two, `[fd00:aa::2]:${two.port}`);
    await pingNow(ns1, two.inner4);
    await addr(ns1, "add", "fd00:aa::10/96", veth1);
    await addr(ns1, "del", "fd00:aa::1/96", veth1);
    await pingNow(ns1, two.inner4);

    // Sticky: ns1 has two addresses of each family; whichever the peer contacts answers.
    for (const ns of [ns1, ns2]) {
      await ns.exec(["ip", "addr", "flush", "dev", ns === ns1 ? veth1 : veth2]);
    }
    for (const cidr of ["10.0.0.1/24", "10.0.0.2/24", "fd00:aa::1/96", "fd00:aa::2/96"]) {
      await addr(ns1, "add", cidr, veth1);
    }
    await addr(ns2, "add", "10.0.0.3/24", veth2);
    await addr(ns2, "add", "fd00:aa::3/96", veth2);
    for (const contacted of ["10.0.0.1", "fd00:aa::1", "10.0.0.2", "fd00:aa::2"]) {
      const endpoint = endpointText(contacted, one.port);
      await setEndpoint(ns2, two, one, endpoint);
      await pingNow(ns2, one.inner4);
      assertEquals(
        await endpointOf(two.ns, two, one),
        endpoint,
        "the reply came from the address contacted",
      );
    }

    // The contacted address is on another interface than the route back to the peer.
    // (The selftest uses a dummy interface; this kernel has none, so one end of a veth pair.)
    await ns1.exec(["ip", "link", "add", "bwkd0", "type", "veth", "peer", "name", "bwkd1"]);
    await addr(ns1, "add", "10.50.0.1/24", "bwkd0");
    await ns1.exec(["ip", "link", "set", "bwkd0", "up"]);
    await ns1.exec(["ip", "link", "set", "bwkd1", "up"]);
    await ns2.exec(["ip", "route", "add", "10.50.0.0/24", "dev", veth2]);
    await setEndpoint(ns2, two, one, `10.50.0.1:${one.port}`);
    await pingNow(ns2, one.inner4);
    assertEquals(await endpointOf(two.ns, two, one), `10.50.0.1:${one.port}`);
  });
}

Deno.test(
  netnsTest(
    "source-address stickiness: replies leave from the address contacted and fall over when it " +
      "is removed, IPv4 and IPv6 (Debian's wireguard-go 0.0.20220316 fails the fall-over here)",
    () => stickiness("burrow"),
  ),
);
