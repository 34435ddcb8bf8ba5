// Direct paths through a router without an input firewall (issue #10), in namespaces this test
// creates: a plain masquerade that takes unsolicited UDP for itself. The first probe from the
// other agent to reach it before its own host sent anything stays there as the router's own
// connection, and its host's probes toward that agent then leave from another port: both
// agents probing every 2 s keep it so for ever. Probing in turns (src/agent/path_monitor.ts)
// lets it expire and lets the side behind the open router go first: the path must end direct,
// whichever side the open router is on. With both routers open no order works (the first test
// to arrive always holds what the other side needs): relayed, and `/status` says so.

import { assertEquals } from "../_support/assert.ts";
import { netnsTest, stopProcess, waitFor } from "../_support/netns.ts";
import { buildTopology } from "./_topology.ts";
import {
  deviceEndpoint,
  devicePublicKey,
  page,
  RELAY,
  startDirectPair,
} from "./direct_paths_fixture.ts";

const SITE_WAN = "10.79.0.31", CLIENT_WAN = "10.79.0.32";
/**
 * The quick test's misses (about 10 s), then up to three 40 s rounds of turns (the first may
 * still meet what the quick test left in the routers, the second be the wrong way round), with
 * room for two busy cores.
 */
const DIRECT_MS = 180_000;

for (const open of ["site", "client"] as const) {
  Deno.test(netnsTest(`direct paths: the ${open}'s router has no input firewall`, async () => {
    const topo = await buildTopology(`bdo${open[0]}`);
    let agents: Deno.ChildProcess[] = [];
    try {
      const pair = await startDirectPair(topo, `bdo${open[0]}`, SITE_WAN, CLIENT_WAN, {
        [open]: { inputFirewall: false },
      });
      agents = pair.agents;
      const startedAt = Date.now();
      const peer = await pair.waitDirect(
        "a direct path",
        (endpoint) => endpoint.startsWith(`${SITE_WAN}:`),
        DIRECT_MS,
      );
      console.log(`  direct after ${Date.now() - startedAt} ms`);
      const siteKey = await devicePublicKey(pair.siteNs, pair.siteIf);
      assertEquals(await deviceEndpoint(pair.clientNs, pair.clientIf, siteKey), peer.endpoint);
      // The site follows: its side of the path goes direct too.
      const clientKey = await devicePublicKey(pair.clientNs, pair.clientIf);
      await waitFor(
        "the site's side direct",
        async () =>
          (await deviceEndpoint(pair.siteNs, pair.siteIf, clientKey)).startsWith(`${CLIENT_WAN}:`),
        30_000,
        200,
      );
      console.log(`  both sides direct after ${Date.now() - startedAt} ms`);
      // A connection opened while the last side switches may lose its SYN (1 s to resend, on
      // two busy cores): the page within a few tries, over the direct path.
      await waitFor(
        "the page over the direct path",
        async () => await page(pair.clientNs) === "hello from the resource",
        15_000,
        200,
      );
      assertEquals(await deviceEndpoint(pair.clientNs, pair.clientIf, siteKey), peer.endpoint);
    } finally {
      for (const agent of agents) await stopProcess(agent);
      await topo.close();
    }
  }));
}

Deno.test(
  netnsTest("direct paths: both routers without an input firewall stay relayed", async () => {
    // Whichever side goes first, its test reaches the other router (nothing in between drops
    // it) and holds the pair of addresses the other side's mapping needs: no order works.
    const topo = await buildTopology("bdob");
    let agents: Deno.ChildProcess[] = [];
    try {
      const open = { inputFirewall: false };
      const pair = await startDirectPair(topo, "bdob", SITE_WAN, CLIENT_WAN, {
        site: open,
        client: open,
      });
      agents = pair.agents;
      await waitFor(
        "the page through the relay",
        async () => await page(pair.clientNs) === "hello from the resource",
        30_000,
        300,
      );
      // Past the quick test and into the turns: relayed, and saying so.
      await new Promise((resolve) => setTimeout(resolve, 15_000));
      const peer = (await pair.sitePeer())!;
      assertEquals([peer.isRelay, peer.endpoint, peer.holepunchConnected], [true, RELAY, false]);
      assertEquals(await page(pair.clientNs), "hello from the resource");
    } finally {
      for (const agent of agents) await stopProcess(agent);
      await topo.close();
    }
  }),
);
