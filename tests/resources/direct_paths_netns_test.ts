// Direct paths end to end (issue #10), in namespaces this test creates: a site and a client,
// each behind its own masquerading router, the hub on the "internet" between them. The path
// goes direct (WireGuard endpoint = the site's public mapping); blocking UDP between the two
// routers moves it to the relay within 30 s with traffic still flowing; unblocking brings it
// back; a hub restart leaves the direct path alone; a client without hole punching stays
// relayed; a forged endpoint announcement for the site's key changes nothing.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import {
  agentStatus,
  DENO,
  hubEndpoint,
  REPO_ROOT,
  startAgent,
  waitForAgentStatus,
} from "../_support/burrow.ts";
import { type Netns, netnsTest, stopProcess, waitFor } from "../_support/netns.ts";
import {
  buildTopology,
  connectThroughApi,
  HUB_IP,
  hubResource,
  LAN,
  RELAY_PORT,
} from "./_topology.ts";
import { blockRouter, startLoggedIn, type Status, unblockRouter } from "./direct_paths_fixture.ts";

const R1 = "10.79.0.11", R2 = "10.79.0.12", R3 = "10.79.0.13";

Deno.test(netnsTest("direct paths through NATs, relay fallback and return", async (t) => {
  const topo = await buildTopology("bdp");
  const { suffix, dir } = topo;
  const agents: Deno.ChildProcess[] = [];
  try {
    const { router: r1, host: siteNs } = await topo.addNatHost("bdp-site", R1, "192.168.51");
    const { router: r2, host: aliceNs } = await topo.addNatHost("bdp-alice", R2, "192.168.52");
    const { host: bobNs } = await topo.addNatHost("bdp-bob", R3, "192.168.53");
    await topo.attachLan(siteNs);
    const site = await topo.addClient("nat-site");
    const alice = await topo.addClient("alice");
    const bob = await topo.addClient("bob");
    const endpoint = hubEndpoint(HUB_IP);
    const siteIf = `bdps${suffix}`, aliceIf = `bdpa${suffix}`;
    // The site from the command line: hole punching is on by default there.
    await startLoggedIn(topo, agents, siteNs, "site", siteIf, site);
    await hubResource(topo, ["add", "--site", site.id, "--destination", LAN.web]);

    const client = (ns: Netns, name: string, ifname: string, holepunch: boolean) => {
      const socket = `${dir}/${name}.sock`;
      agents.push(startAgent(ns, {
        stateDir: `${dir}/${name}`,
        socket,
        interface: ifname,
        args: ["--ping-interval", "500ms"],
      }));
      return {
        socket,
        connect: (credentials: { id: string; secret: string }) =>
          connectThroughApi(socket, {
            id: credentials.id,
            secret: credentials.secret,
            endpoint,
            ...(holepunch ? { holepunch: true } : {}),
          }),
      };
    };
    const aliceAgent = client(aliceNs, "alice", aliceIf, true);
    const bobAgent = client(bobNs, "bob", `bdpb${suffix}`, false);
    await aliceAgent.connect(alice);
    await bobAgent.connect(bob);

    const siteOf = (s: Status) => Object.values(s.peers).find((p) => p.name === "nat-site");
    const page = async (ns: Netns) =>
      (await ns.exec(["curl", "-sS", "-m", "3", `http://${LAN.web}/`], { check: false })).stdout
        .trim();
    const siteKey = async () =>
      (await siteNs.exec(["wg", "show", siteIf, "public-key"])).stdout.trim();
    const deviceGoesDirect = () =>
      waitFor(
        "the device on the direct path",
        async () => (await aliceEndpointOfSite()).startsWith(`${R1}:`),
        10_000,
        200,
      );
    const aliceEndpointOfSite = async () => {
      const lines = (await aliceNs.exec(["wg", "show", aliceIf, "endpoints"])).stdout;
      const key = await siteKey();
      return lines.split("\n").find((l) => l.startsWith(key))?.split("\t")[1] ?? "";
    };

    await t.step("the path goes direct: endpoint = the site's public mapping", async () => {
      await waitForAgentStatus(aliceAgent.socket, "a direct path", (s: Status) => {
        const peer = siteOf(s);
        return Boolean(peer && !peer.isRelay && peer.holepunchConnected && peer.connected);
      }, 40_000);
      const peer = siteOf(await agentStatus<Status>(aliceAgent.socket))!;
      assert(peer.endpoint.startsWith(`${R1}:`), peer.endpoint);
      await deviceGoesDirect();
      assertEquals(await page(aliceNs), "hello from the resource");
    });

    await t.step("a forged announcement for the site's key changes nothing", async () => {
      const before = siteOf(await agentStatus<Status>(aliceAgent.socket))!.endpoint;
      // Sealed with another key, claiming the site's: sent from bob's network to the relay port.
      const script = `
        import dgram from "node:dgram";
        import { Buffer } from "node:buffer";
        import { sealAnnouncement } from "${REPO_ROOT}src/protocol/mod.ts";
        import { generatePrivateKey, keyFromBase64 } from "${REPO_ROOT}src/curve25519/mod.ts";
        const [hubKey, siteKey] = Deno.args;
        const forged = sealAnnouncement(generatePrivateKey(), keyFromBase64(hubKey), {
          timestampMs: Date.now(), local: ["192.0.2.66:1"] });
        forged.set(keyFromBase64(siteKey), 10);
        const socket = dgram.createSocket("udp4");
        for (let i = 0; i < 5; i++) socket.send(Buffer.from(forged), ${RELAY_PORT}, "${HUB_IP}");
        setTimeout(() => socket.close(), 300);
      `;
      const file = `${dir}/forge.ts`;
      await Deno.writeTextFile(file, script);
      const hubKey = (await topo.internet.exec(["wg", "show", `bdph${suffix}`, "public-key"]))
        .stdout.trim();
      await bobNs.exec([
        DENO,
        "run",
        "--allow-all",
        "--quiet",
        "--config",
        `${REPO_ROOT}deno.json`,
        file,
        hubKey,
        await siteKey(),
      ]);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const after = siteOf(await agentStatus<Status>(aliceAgent.socket))!;
      assertEquals(after.endpoint, before);
      assertEquals(after.isRelay, false);
    });

    await t.step(
      "UDP blocked between the routers: relayed within 30 s, traffic flowing",
      async () => {
        await blockRouter(r1, R2);
        await blockRouter(r2, R1);
        const blockedAt = Date.now();
        await waitForAgentStatus(
          aliceAgent.socket,
          "the relay",
          (s: Status) => Boolean(siteOf(s)?.isRelay),
          35_000,
        );
        assert(Date.now() - blockedAt <= 30_000, `${Date.now() - blockedAt} ms`);
        const peer = siteOf(await agentStatus<Status>(aliceAgent.socket))!;
        assertEquals(peer.endpoint, `${HUB_IP}:${RELAY_PORT}`);
        assertEquals(peer.holepunchConnected, false);
        await waitFor(
          "the page through the relay",
          async () => await page(aliceNs) === "hello from the resource",
          15_000,
          300,
        );
        assertStringIncludes(await aliceEndpointOfSite(), `${HUB_IP}:${RELAY_PORT}`);
      },
    );

    await t.step("unblocked: back to the direct path", async () => {
      await unblockRouter(r1);
      await unblockRouter(r2);
      await waitForAgentStatus(aliceAgent.socket, "direct again", (s: Status) => {
        const peer = siteOf(s);
        return Boolean(peer && !peer.isRelay && peer.holepunchConnected);
      }, 40_000);
      await deviceGoesDirect();
      assertEquals(await page(aliceNs), "hello from the resource");
    });

    await t.step("a hub restart: the direct path keeps working meanwhile and after", async () => {
      await stopProcess(topo.hub!);
      topo.hub = undefined;
      await waitForAgentStatus(aliceAgent.socket, "the hub gone", (
        s: Status & {
          connected: boolean;
        },
      ) => !s.connected, 20_000);
      assertEquals(await page(aliceNs), "hello from the resource", "direct, without the hub");
      await topo.startHub();
      await waitForAgentStatus(
        aliceAgent.socket,
        "registered again",
        (s: Status) => s.registered,
        30_000,
      );
      for (let i = 0; i < 10; i++) {
        const peer = siteOf(await agentStatus<Status>(aliceAgent.socket))!;
        assertEquals(peer.isRelay, false, "the hub knew the site's mapping at once");
        assert((await aliceEndpointOfSite()).startsWith(`${R1}:`));
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      assertEquals(await page(aliceNs), "hello from the resource");
    });

    await t.step("without hole punching every path stays relayed", async () => {
      await waitForAgentStatus(
        bobAgent.socket,
        "the site",
        (s: Status) => Boolean(siteOf(s)?.connected),
        30_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const peer = siteOf(await agentStatus<Status>(bobAgent.socket))!;
      assertEquals(peer.isRelay, true);
      assertEquals(peer.holepunchConnected, false);
      assertEquals(peer.endpoint, `${HUB_IP}:${RELAY_PORT}`);
      await waitFor(
        "bob's page through the relay",
        async () => await page(bobNs) === "hello from the resource",
        20_000,
        300,
      );
    });
  } finally {
    for (const agent of agents) await stopProcess(agent);
    await topo.close();
  }
}));

Deno.test(netnsTest("direct paths behind one NAT: the site's LAN address, no hairpin", async () => {
  const topo = await buildTopology("bdn");
  const { suffix } = topo;
  const agents: Deno.ChildProcess[] = [];
  try {
    const { hosts: [siteNs, aliceNs] } = await topo.addNatLan("bdn-h", R1, "192.168.71", 2);
    await topo.attachLan(siteNs);
    const site = await topo.addClient("lan-site"), alice = await topo.addClient("alice");
    await startLoggedIn(topo, agents, siteNs, "site", `bdns${suffix}`, site);
    await hubResource(topo, ["add", "--site", site.id, "--destination", LAN.web]);
    const aliceSocket = await startLoggedIn(topo, agents, aliceNs, "alice", `bdna${suffix}`, alice);
    await waitForAgentStatus(aliceSocket, "a direct path on the LAN", (s: Status) => {
      const peer = Object.values(s.peers).find((p) => p.name === "lan-site");
      return Boolean(peer && !peer.isRelay && peer.holepunchConnected && peer.connected);
    }, 60_000);
    const peer = Object.values((await agentStatus<Status>(aliceSocket)).peers)
      .find((p) => p.name === "lan-site")!;
    assert(peer.endpoint.startsWith("192.168.71.2:"), peer.endpoint);
    await waitFor(
      "the page over the LAN",
      async () =>
        (await aliceNs.exec(["curl", "-sS", "-m", "3", `http://${LAN.web}/`], { check: false }))
          .stdout.trim() === "hello from the resource",
      30_000,
      500,
    );
  } finally {
    for (const agent of agents) await stopProcess(agent);
    await topo.close();
  }
}));
