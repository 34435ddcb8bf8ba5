// burrow's device against Debian's wireguard-go, each in its own namespace, configured with wg(8):
// handshakes both ways, pings over both families inside and outside, a 100 MB TCP transfer with
// matching checksums, roaming, and what `wg show`, dump, setconf, syncconf and showconf report.

import { assert, assertEquals } from "../_support/assert.ts";
import { netnsTest, waitFor } from "../_support/netns.ts";
import { createPair, type Pair, parseDump, pingUntilAnswered } from "./_wg_pair.ts";

async function withPair(
  outerFamily: 4 | 6,
  body: (pair: Pair) => Promise<void>,
): Promise<void> {
  const pair = await createPair("burrow", "wireguard-go", { outerFamily });
  try {
    await body(pair);
  } finally {
    await pair.destroy();
  }
}

async function pingAll(pair: Pair): Promise<void> {
  const { a, b } = pair;
  for (const [from, to] of [[a, b], [b, a]] as const) {
    for (const address of [to.inner4, to.inner6]) {
      const result = await from.ns.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", address], {
        check: false,
      });
      assertEquals(result.code, 0, `${from.implementation} -> ${address}: ${result.stdout}`);
    }
  }
}

Deno.test(
  netnsTest("burrow initiates a handshake with wireguard-go; pings over outer IPv4", async () => {
    await withPair(4, async (pair) => {
      await pingUntilAnswered(pair.a, pair.b.inner4);
      await pingAll(pair);
      const dump = parseDump(await pair.wg(pair.a, ["show", pair.a.ifname, "dump"]));
      assertEquals(dump.peers.length, 1);
      assertEquals(dump.peers[0].publicKey, pair.b.keys.publicKey);
      assertEquals(dump.peers[0].endpoint, `${pair.b.outer4}:${pair.b.port}`);
      const age = Date.now() / 1000 - dump.peers[0].latestHandshake;
      assert(age >= -2 && age < 60, `recent handshake, ${age} s ago`);
      assert(dump.peers[0].rxBytes > 0 && dump.peers[0].txBytes > 0, "byte counters move");
    });
  }),
);

Deno.test(
  netnsTest("wireguard-go initiates a handshake with burrow; pings over outer IPv6", async () => {
    await withPair(6, async (pair) => {
      await pingUntilAnswered(pair.b, pair.a.inner6);
      await pingAll(pair);
      const dump = parseDump(await pair.wg(pair.a, ["show", pair.a.ifname, "dump"]));
      assertEquals(dump.peers[0].endpoint, `[${pair.b.outer6}]:${pair.b.port}`);
    });
  }),
);

Deno.test(netnsTest("a 100 MB TCP transfer through burrow arrives intact both ways", async () => {
  await withPair(4, async (pair) => {
    const { a, b } = pair;
    await pingUntilAnswered(a, b.inner4);
    const file = `${pair.dir}/payload`;
    await a.ns.exec(["dd", "if=/dev/urandom", `of=${file}`, "bs=1M", "count=100", "status=none"]);
    const expected = (await a.ns.exec(["sha256sum", file])).stdout.split(" ")[0];
    const before = parseDump(await pair.wg(a, ["show", a.ifname, "dump"])).peers[0];
    for (const [sender, receiver] of [[a, b], [b, a]] as const) {
      const received = `${pair.dir}/received-${receiver.implementation}`;
      const listener = receiver.ns.spawn([
        "socat",
        "-u",
        `TCP-LISTEN:5201,bind=${receiver.inner4},reuseaddr`,
        `CREATE:${received}`,
      ]);
      try {
        await waitFor(
          "socat to listen",
          async () =>
            (await receiver.ns.exec(["ss", "-ltn", "sport = :5201"])).stdout.includes("5201"),
        );
        const sent = await sender.ns.exec([
          "socat",
          "-u",
          `OPEN:${file}`,
          `TCP:${receiver.inner4}:5201`,
        ], { check: false });
        assertEquals(sent.code, 0, sent.stderr);
        assert((await listener.status).success, "receiver exited cleanly");
      } finally {
        try {
          listener.kill("SIGKILL");
        } catch { /* exited */ }
        await listener.status;
      }
      const actual = (await receiver.ns.exec(["sha256sum", received])).stdout.split(" ")[0];
      assertEquals(actual, expected, `checksum at ${receiver.implementation}`);
    }
    // burrow sent and received at least the payload once each (plus headers and padding).
    const after = parseDump(await pair.wg(a, ["show", a.ifname, "dump"])).peers[0];
    const payload = 100 * 1024 * 1024;
    assert(
      after.txBytes - before.txBytes > payload,
      `tx grew by ${after.txBytes - before.txBytes}`,
    );
    assert(
      after.rxBytes - before.rxBytes > payload,
      `rx grew by ${after.rxBytes - before.rxBytes}`,
    );
    // ...and wireguard-go's view agrees: nothing arrives that was not sent; UDP may lose some.
    const peerView = parseDump(await pair.wg(b, ["show", b.ifname, "dump"])).peers[0];
    const close = (received: number, sent: number) => received <= sent && received > sent * 0.75;
    assert(
      close(peerView.rxBytes, after.txBytes),
      `tx ${after.txBytes}, peer rx ${peerView.rxBytes}`,
    );
    assert(
      close(after.rxBytes, peerView.txBytes),
      `rx ${after.rxBytes}, peer tx ${peerView.txBytes}`,
    );
  });
}));

Deno.test(netnsTest("burrow follows wireguard-go to a new outer address (roaming)", async () => {
  await withPair(4, async (pair) => {
    const { a, b } = pair;
    await pingUntilAnswered(a, b.inner4);
    const veth = (await b.ns.exec(["ip", "-o", "-4", "addr", "show", "to", `${b.outer4}/32`]))
      .stdout.split(/\s+/)[1];
    // Deleting first: a primary address takes its secondaries with it.
    await b.ns.exec(["ip", "addr", "del", `${b.outer4}/24`, "dev", veth]);
    await b.ns.exec(["ip", "addr", "add", "10.71.0.3/24", "dev", veth]);
    // wireguard-go keeps sending from the address it last used (sticky source) until it rebinds;
    // a new port makes it rebind, so it now sends from 10.71.0.3:51999. Burrow must follow.
    await pair.wg(b, ["set", b.ifname, "listen-port", "51999"]);
    await pingUntilAnswered(b, a.inner4);
    const dump = parseDump(await pair.wg(a, ["show", a.ifname, "dump"]));
    assertEquals(dump.peers[0].endpoint, "10.71.0.3:51999");
    const back = await a.ns.exec(["ping", "-c", "2", "-W", "2", b.inner6], { check: false });
    assertEquals(back.code, 0, "burrow reaches the peer at its new address");
  });
}));

Deno.test(
  netnsTest("wg showconf, setconf and syncconf round-trip through burrow's UAPI", async () => {
    await withPair(4, async (pair) => {
      const { a } = pair;
      const original = await pair.wg(a, ["showconf", a.ifname]);
      assert(original.includes(`PublicKey = ${pair.b.keys.publicKey}`), original);
      assert(original.includes(`PrivateKey = ${a.keys.privateKey}`), original);
      assert(original.includes(`ListenPort = ${a.port}`), original);
      const file = `${pair.dir}/a.conf`;
      await Deno.writeTextFile(file, original);
      await pair.wg(a, ["setconf", a.ifname, file]);
      assertEquals(await pair.wg(a, ["showconf", a.ifname]), original);

      const extraKey = (await a.ns.exec(["wg", "genkey"])).stdout.trim();
      const extraPub = (await a.ns.exec(["wg", "pubkey"], { stdin: extraKey })).stdout.trim();
      const extended = original +
        `\n[Peer]\nPublicKey = ${extraPub}\nAllowedIPs = 10.99.0.0/16, fd99::/48\n` +
        `Endpoint = [fd71::9]:4000\nPersistentKeepalive = 15\n`;
      await Deno.writeTextFile(file, extended);
      await pair.wg(a, ["syncconf", a.ifname, file]);
      const synced = await pair.wg(a, ["showconf", a.ifname]);
      assert(synced.includes(`PublicKey = ${extraPub}`), synced);
      assert(synced.includes("AllowedIPs = 10.99.0.0/16, fd99::/48"), synced);
      assert(synced.includes("Endpoint = [fd71::9]:4000"), synced);
      assert(synced.includes("PersistentKeepalive = 15"), synced);

      await Deno.writeTextFile(file, original);
      await pair.wg(a, ["syncconf", a.ifname, file]);
      assertEquals(await pair.wg(a, ["showconf", a.ifname]), original);

      const shown = await pair.wg(a, ["show", a.ifname]);
      assert(shown.includes(`peer: ${pair.b.keys.publicKey}`), shown);
      // A bad set changes nothing.
      const refused = await a.ns.exec([
        "wg",
        "set",
        a.ifname,
        "peer",
        extraPub,
        "allowed-ips",
        "10.0.0.0/99",
      ], {
        check: false,
      });
      assert(refused.code !== 0, "wg refuses a bad CIDR");
      assertEquals(await pair.wg(a, ["showconf", a.ifname]), original);
    });
  }),
);
