// 100,000 random and mutated datagrams (mutations of real handshake and transport packets captured
// between wireguard-go and burrow) sent to a live burrow device: it keeps running, keeps its
// configuration and endpoint, and still carries traffic afterwards.

import { assert, assertEquals } from "../_support/assert.ts";
import { netnsTest } from "../_support/netns.ts";
import { startLineScript } from "./_line_script.ts";
import { createPair, parseDump, pingUntilAnswered } from "./_wg_pair.ts";

const DATAGRAMS = 100_000;
const RELAY_PORT = 40000;

Deno.test(
  netnsTest("burrow survives 100,000 hostile datagrams and still carries traffic", async () => {
    const pair = await createPair("burrow", "wireguard-go");
    const { a, b } = pair;
    const relay = startLineScript(b.ns.name, "_fuzz_relay.ts", ["--allow-net"], [
      String(RELAY_PORT),
      String(b.port),
      a.outer4,
      String(a.port),
    ]);
    const ask = relay.ask;
    try {
      // wireguard-go now reaches burrow only through the relay.
      await pair.wg(b, [
        "set",
        b.ifname,
        "peer",
        a.keys.publicKey,
        "endpoint",
        `127.0.0.1:${RELAY_PORT}`,
      ]);
      await pingUntilAnswered(b, a.inner4);
      await b.ns.exec(["ping", "-c", "5", "-i", "0.2", a.inner4]);
      const seeds = await ask("seeds");
      assert(/\b1:\d/.test(seeds) && /\b4:\d/.test(seeds), `captured real packets: ${seeds}`);
      const before = parseDump(await pair.wg(a, ["show", a.ifname, "dump"]));

      const sent = await ask(`fuzz ${DATAGRAMS}`);
      assert(Number(sent.split(" ")[1]) >= DATAGRAMS * 0.99, sent);

      // Still alive, same configuration, same endpoint (only authenticated packets roam).
      const status = await Promise.race([
        a.process.status.then(() => "exited"),
        new Promise((resolve) => setTimeout(() => resolve("running"), 500)),
      ]);
      assertEquals(status, "running");
      const after = parseDump(await pair.wg(a, ["show", a.ifname, "dump"]));
      assertEquals(after.device, before.device);
      assertEquals(after.peers.length, 1);
      assertEquals(after.peers[0].endpoint, before.peers[0].endpoint);
      assertEquals(after.peers[0].allowedIps, before.peers[0].allowedIps);
      for (const [from, to] of [[a, b.inner4], [b, a.inner6], [a, b.inner6]] as const) {
        const result = await from.ns.exec(["ping", "-c", "3", "-W", "2", to], { check: false });
        assertEquals(result.code, 0, `ping ${to} after the fuzz`);
      }
    } finally {
      await relay.stop();
      await pair.destroy();
    }
  }),
);
