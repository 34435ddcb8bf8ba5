// Direct paths that must re-form (issue #10, "robust"), in namespaces this test creates: a site
// and a client each behind its own masquerading router, the hub on the "internet" between them,
// both agents up for over a minute (their announcements down to one a minute):
//   - the site's router changes its UDP mapping (its UDP connections forgotten, a new port
//     range; the hub sessions over TCP go on): the path comes back direct on the new mapping,
//     traffic flowing meanwhile, without waiting for the next announcement
//   - the client moves to another network (a new router, a new address): the hub session and
//     the direct path re-form within seconds
// and `/status` tells the truth at each step (relayed exactly when the endpoint is the relay).

import { assert, assertEquals } from "../_support/assert.ts";
import { agentStatus, waitForAgentStatus } from "../_support/burrow.ts";
import { type Netns, netnsTest, stopProcess, waitFor } from "../_support/netns.ts";
import { buildTopology } from "./_topology.ts";
import {
  deviceEndpoint,
  devicePublicKey,
  page,
  startDirectPair,
  type Status,
  watchPath,
} from "./direct_paths_fixture.ts";

const SITE_WAN = "10.79.0.21", CLIENT_WAN = "10.79.0.22", CLIENT_WAN2 = "10.79.0.23";
/** The ports the site's router maps UDP to after the change. */
const NEW_PORTS = { first: 30000, last: 30999 };
/** Announcements 1, 2, 4, ... 32 s apart, then every 60 s: the agents are in their steady state. */
const STEADY_AFTER_MS = 65_000;
/**
 * A broken direct path is found within about 21 s (a probe every 15 s while it works, then three
 * misses 2 s apart); the new mapping is announced at once, handed out and tested within a few
 * seconds more. Waiting for the next announcement instead could take a minute.
 */
const REMAP_MS = 35_000;
/** A changed address is seen within a second, announced and tested at once. */
const MOVE_MS = 10_000;

const through = (host: string) => (endpoint: string) => endpoint.startsWith(`${host}:`);
const portOf = (endpoint: string) => Number(endpoint.split(":")[1]);
const newMapping = (endpoint: string) =>
  through(SITE_WAN)(endpoint) && portOf(endpoint) >= NEW_PORTS.first &&
  portOf(endpoint) <= NEW_PORTS.last;

/**
 * The router's NAT forgets its UDP mappings and maps UDP to new ports from now on (as when a
 * NAT's UDP timeout ran out, or a carrier-grade NAT reassigned ports); its TCP connections, the
 * agents' hub sessions among them, go on as they were.
 */
async function remapUdp(router: Netns): Promise<void> {
  await router.exec(["nft", "flush", "chain", "ip", "nat", "postrouting"]);
  await router.exec([
    ..."nft add rule ip nat postrouting oifname != lan0 meta l4proto udp masquerade to".split(" "),
    `:${NEW_PORTS.first}-${NEW_PORTS.last}`,
  ]);
  await router.exec("nft add rule ip nat postrouting oifname != lan0 masquerade".split(" "));
  await router.exec(["conntrack", "-D", "-p", "udp"], { check: false });
}

Deno.test(
  netnsTest("direct paths re-form: a new NAT mapping, a client on another network", async (t) => {
    const conntrack = await new Deno.Command("conntrack", { args: ["--version"] }).output()
      .catch(() => null);
    if (!conntrack?.success) {
      console.log("skipped: conntrack (package conntrack) is missing; `make test` installs it");
      return;
    }
    const topo = await buildTopology("bdm");
    let agents: Deno.ChildProcess[] = [];
    let watch: ReturnType<typeof watchPath> | undefined;
    try {
      const pair = await startDirectPair(topo, "bdm", SITE_WAN, CLIENT_WAN);
      agents = pair.agents;
      await pair.waitDirect("a direct path", through(SITE_WAN), 40_000);
      const siteKey = await devicePublicKey(pair.siteNs, pair.siteIf);
      const clientKey = await devicePublicKey(pair.clientNs, pair.clientIf);
      const { router: newRouter } = await topo.addNatLan("bdm-c2", CLIENT_WAN2, "192.168.63", 0);
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, pair.clientStartedAt + STEADY_AFTER_MS - Date.now()))
      );
      watch = watchPath(pair);

      await t.step(
        "the site's NAT maps to new ports: direct again on the new mapping",
        async () => {
          const before = (await pair.sitePeer())!.endpoint;
          await remapUdp(pair.siteRouter);
          const changedAt = Date.now();
          const after = await pair.waitDirect("direct on the new mapping", newMapping, REMAP_MS);
          console.log(`  ${before} -> ${after.endpoint} in ${Date.now() - changedAt} ms`);
          assertEquals(await deviceEndpoint(pair.clientNs, pair.clientIf, siteKey), after.endpoint);
          assertEquals(await page(pair.clientNs), "hello from the resource");
        },
      );

      await t.step(
        "the client moves to another network: the session and the path re-form",
        async () => {
          await topo.moveHost(pair.clientNs, newRouter, "192.168.63.2");
          const movedAt = Date.now();
          // The site sends to the client's new mapping (the new router's address) once the hub
          // learned it, and the client's path is direct again.
          await waitFor(
            "the site on the client's new mapping",
            async () => {
              const siteSide = await deviceEndpoint(pair.siteNs, pair.siteIf, clientKey);
              const peer = await pair.sitePeer();
              return through(CLIENT_WAN2)(siteSide) && Boolean(peer && !peer.isRelay);
            },
            MOVE_MS,
            200,
          );
          await pair.waitDirect("direct from the new network", through(SITE_WAN), MOVE_MS);
          console.log(`  re-formed in ${Date.now() - movedAt} ms`);
          await waitForAgentStatus(
            pair.clientSocket,
            "the hub session",
            (s: Status) => s.connected && s.registered,
            30_000,
          );
          assertEquals(await page(pair.clientNs), "hello from the resource");
          const status = await agentStatus<Status>(pair.clientSocket);
          assert(status.connected && status.registered);
        },
      );

      const { lies, longestGapMs, routes } = await watch.stop();
      console.log(
        `  routes ${routes.join(" -> ")}; longest time without the page ${longestGapMs} ms`,
      );
      assertEquals(lies, [], "/status told the truth");
      assert(longestGapMs <= 30_000, `traffic stopped for ${longestGapMs} ms`);
    } finally {
      await watch?.stop();
      for (const agent of agents) await stopProcess(agent);
      await topo.close();
    }
  }),
);
