// What the kernel's WireGuard selftest (tools/testing/selftests/wireguard/netns.sh) expects of an
// implementation, asked of `burrow wg` in the same topologies: the birthplace namespace ns0 holds
// both processes and their sockets, the interfaces live in ns1 and ns2 (see _birthplace.ts);
// Debian's wireguard-go is the other end. Each behaviour is one test.
//
// Sizes: the selftest moves what iperf3 manages in 3 s; issue #12 asks for 1 GB each way, which
// on this machine's 2 shared cores would take minutes per direction. Each transfer here is
// TRANSFER_BYTES, so the whole file stays well under 90 s; the counters are checked against what
// iperf3 reports for exactly those bytes.

import { assert, assertEquals } from "../_support/assert.ts";
import { type Netns, netnsTest, stopProcess, waitFor } from "../_support/netns.ts";
import {
  type Birthplace,
  endpointText,
  linkBytes,
  type Member,
  pingOnce,
  withBirthplace,
} from "./_birthplace.ts";

const TRANSFER_BYTES = 64 << 20;

/** `ping -f` of `count` packets: every one answered. */
async function pingFlood(ns: Netns, address: string, count = 10): Promise<void> {
  const result = await ns.exec(["ping", "-c", String(count), "-f", "-W", "1", address], {
    check: false,
  });
  assertEquals(result.code, 0, `flood to ${address}: ${result.stdout}`);
  assert(result.stdout.includes(`${count} received`), result.stdout);
}

Deno.test(
  netnsTest(
    "ping floods over IPv4 and IPv6 inside, outer 127.0.0.1 and ::1, with exact link counters",
    async () => {
      await withBirthplace("wireguard-go", async (b) => {
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
          assertEquals(
            (await b.wg(["show", two.ifname, "endpoints"])).trim(),
            `${one.keys.publicKey}\t${endpointText(host, one.port)}`,
          );
        }
        const handshakes = (await b.wg(["show", one.ifname, "latest-handshakes"])).trim();
        assert(Number(handshakes.split("\t")[1]) > 0, "a handshake time is reported");
      });
    },
  ),
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
    if (udp) args.push("-u", "-b", "400M", "-l", "1300");
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
    if (udp) {
      const sum = report.end.sum;
      return { sent: sum.bytes, received: Math.round(sum.bytes * (1 - sum.lost_percent / 100)) };
    }
    // The server stops counting at the end of the test, so it may report less than was sent.
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
    assert(result.received >= (udp ? 0.5 : 0.8) * TRANSFER_BYTES, what);
    assert(received >= result.received, `${what}: rx ${received} below the payload received`);
    assert(received <= sent, `${what}: rx ${received} above tx ${sent}`);
    assert(sent <= result.sent * 1.25, `${what}: tx ${sent} above the payload sent and headers`);
  }
}

for (const host of ["127.0.0.1", "::1"] as const) {
  Deno.test(
    netnsTest(
      `iperf3 TCP and UDP, inner IPv4 and IPv6, both ways, outer ${host}; ip -stats link ` +
        `counters match the bytes sent`,
      async () => {
        await withBirthplace("wireguard-go", async (b) => {
          await b.outer(host);
          await pingOnce(b.one.ns, b.two.inner4);
          await transferBothWays(b, 4, false);
          await transferBothWays(b, 6, false);
          await transferBothWays(b, 4, true);
          await transferBothWays(b, 6, true);
        });
      },
    ),
  );
}
