// Private resources end to end (issue #9), in namespaces this test creates: a hub, a site agent
// with a LAN behind it (web servers with no route back), a client driven through the Olm API
// and a second client without access. Direct UDP between the agents is blocked, so everything
// goes through the hub's relay. Checks: the alias resolves through the DNS proxy (UDP and TCP)
// and the page loads by name; other names reach the upstream (dnsmasq); the second client
// reaches and resolves nothing; a client widening its own allowed IPs reaches nothing more;
// the site, with a client among its peers, still serves a traffic rule relayed by the hub
// (PROXY headers believed from the hub only); `wg show` lists the site's own key; /status
// tells the path; a hub restart keeps access; removing the resource cuts it.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import {
  agentStatus,
  hubEndpoint,
  loginFlags,
  startAgent,
  unixSocketApi,
  waitForAgentStatus,
} from "../_support/burrow.ts";
import { type Netns, netnsTest, stopProcess, waitFor } from "../_support/netns.ts";
import {
  buildTopology,
  connectThroughApi,
  HUB_IP,
  hubResource,
  LAN,
  OUTSIDE,
  RELAY_PORT,
} from "./_topology.ts";

const SITE_IP = "10.79.0.2", ALICE_IP = "10.79.0.3", BOB_IP = "10.79.0.4";
const DNS_PROXY = "100.96.128.1";
const ALIAS = "web.lab.internal";

interface PeerJson {
  siteId: number;
  name: string;
  connected: boolean;
  rtt: number;
  endpoint: string;
  isRelay: boolean;
  peerAddress: string;
}
interface Status {
  registered: boolean;
  peers: Record<string, PeerJson>;
  networkSettings: Record<string, unknown> & { tunnelIP: string };
}

/** Drops UDP between `ns` and each of `others` (both directions), with nftables in `ns`. */
async function blockUdp(ns: Netns, others: string[]): Promise<void> {
  const set = others.join(", ");
  await ns.exec(["nft", "-f", "-"], {
    stdin: `table inet block_direct {
  chain output { type filter hook output priority 0; ip daddr { ${set} } meta l4proto udp drop; }
  chain input { type filter hook input priority 0; ip saddr { ${set} } meta l4proto udp drop; }
}
`,
  });
}

Deno.test(netnsTest("private resources through the hub's relay, with a DNS proxy", async (t) => {
  const topo = await buildTopology("bpr");
  const { suffix, dir } = topo;
  const agents: Deno.ChildProcess[] = [];
  const netnsEtc: string[] = [];
  try {
    const siteNs = await topo.addHost("bpr-site", SITE_IP);
    const aliceNs = await topo.addHost("bpr-alice", ALICE_IP);
    const bobNs = await topo.addHost("bpr-bob", BOB_IP);
    await topo.attachLan(siteNs);
    await blockUdp(siteNs, [ALICE_IP, BOB_IP]);
    await blockUdp(aliceNs, [SITE_IP, BOB_IP]);
    await blockUdp(bobNs, [SITE_IP, ALICE_IP]);
    // Name lookups inside alice's namespace go to her DNS proxy (ip netns exec mounts this).
    const etc = `/etc/netns/${aliceNs.name}`;
    await Deno.mkdir(etc, { recursive: true });
    netnsEtc.push(etc);
    await Deno.writeTextFile(`${etc}/resolv.conf`, `nameserver ${DNS_PROXY}\n`);

    const site = await topo.addClient("lab-site");
    const alice = await topo.addClient("alice", "--org", "default", "--org", "acme");
    const bob = await topo.addClient("bob");
    const endpoint = hubEndpoint(HUB_IP);

    const siteIf = `bprs${suffix}`, aliceIf = `bpra${suffix}`, bobIf = `bprb${suffix}`;
    const siteSocket = `${dir}/site.sock`;
    agents.push(startAgent(siteNs, {
      stateDir: `${dir}/site`,
      socket: siteSocket,
      interface: siteIf,
      args: [...loginFlags(endpoint, site), "--ping-interval", "500ms"],
    }));
    await waitForAgentStatus(siteSocket, "the site registered", (s: Status) => s.registered);
    const resource = await hubResource(topo, [
      "add",
      "--site",
      site.id,
      "--destination",
      LAN.web,
      "--alias",
      ALIAS,
      "--access",
      alice.id,
    ]) as { id: string };

    const startClient = (ns: Netns, name: string, ifname: string) => {
      const socket = `${dir}/${name}.sock`;
      agents.push(startAgent(ns, {
        stateDir: `${dir}/${name}`,
        socket,
        interface: ifname,
        args: ["--ping-interval", "500ms", "--upstream-dns", HUB_IP],
      }));
      return socket;
    };
    const aliceSocket = startClient(aliceNs, "alice", aliceIf);
    const bobSocket = startClient(bobNs, "bob", bobIf);
    for (const [socket, credentials] of [[aliceSocket, alice], [bobSocket, bob]] as const) {
      await connectThroughApi(socket, {
        id: credentials.id,
        secret: credentials.secret,
        endpoint,
      });
    }

    const siteOf = (s: Status) => Object.values(s.peers).find((p) => p.name === "lab-site");
    const page = async (ns: Netns, url: string) => {
      const result = await ns.exec(["curl", "-sS", "-m", "3", url], { check: false });
      return result.code === 0 ? result.stdout.trim() : null;
    };
    const dig = async (ns: Netns, name: string, ...extra: string[]) =>
      (await ns.exec(["dig", "+short", "+time=2", "+tries=1", `@${DNS_PROXY}`, name, ...extra], {
        check: false,
      })).stdout.trim();

    await t.step("alice gets the site as a peer, relayed, measured through the relay", async () => {
      await waitForAgentStatus(aliceSocket, "the site connected", (s: Status) => {
        const peer = siteOf(s);
        return Boolean(peer?.connected && peer.rtt > 0);
      }, 30_000);
      const status = await agentStatus<Status>(aliceSocket);
      const peer = siteOf(status)!;
      assertEquals(peer.isRelay, true);
      assertEquals(peer.endpoint, `${HUB_IP}:${RELAY_PORT}`);
      const hubPeer = Object.values(status.peers).find((p) => p.siteId === 1)!;
      assertEquals(hubPeer.isRelay, false, "the hub's own peer is direct");
      assertEquals(status.networkSettings.dns_servers, [DNS_PROXY]);
      assertEquals(status.networkSettings.mtu, 1280);
      assertEquals(
        (status.networkSettings.ipv4_included_routes as { destination_address: string }[])
          .map((r) => r.destination_address),
        [LAN.web],
      );
      const bobStatus = await agentStatus<Status>(bobSocket);
      assertEquals(Object.keys(bobStatus.peers), ["1"], "bob gets only the hub");
    });

    await t.step(
      "the site, with a client as a peer, still serves a rule through the hub",
      async () => {
        // Its device's peers now include alice (a client reaching this site) beside the hub:
        // the PROXY headers it believes must still be the hub's, whatever the order of peers.
        const aliceKey = (await aliceNs.exec(["wg", "show", aliceIf, "public-key"])).stdout.trim();
        await waitFor(
          "alice as a peer of the site",
          async () =>
            (await siteNs.exec(["wg", "show", siteIf, "peers"])).stdout.includes(aliceKey),
          20_000,
          300,
        );
        const created = await unixSocketApi(siteSocket)("POST", "/api/client/v1.0/traffic/create", {
          https: [{ domain: "lab.bpr.test", destination: LAN.web, port: 80 }],
        });
        assertEquals(created.status, 200, created.body);
        const viaHub = async () => {
          const result = await bobNs.exec([
            "curl",
            "-sS",
            "-m",
            "3",
            "--resolve",
            `lab.bpr.test:80:${HUB_IP}`,
            "http://lab.bpr.test/",
          ], { check: false });
          return result.code === 0 ? result.stdout.trim() : null;
        };
        await waitFor(
          "the site's page through the hub's ingress",
          async () => await viaHub() === "hello from the resource",
          15_000,
          300,
        );
      },
    );

    await t.step(
      "the alias resolves through the proxy (UDP and TCP); the page loads by name",
      async () => {
        assertEquals(await dig(aliceNs, ALIAS), LAN.web);
        assertEquals(await dig(aliceNs, ALIAS, "+tcp"), LAN.web);
        assertEquals(await dig(aliceNs, OUTSIDE.name), OUTSIDE.address, "forwarded upstream");
        assertEquals(await dig(aliceNs, OUTSIDE.name, "+tcp"), OUTSIDE.address);
        assertEquals(await page(aliceNs, `http://${ALIAS}/`), "hello from the resource");
      },
    );

    await t.step("wg show on the client lists the site's own key", async () => {
      const siteKey = (await siteNs.exec(["wg", "show", siteIf, "public-key"])).stdout.trim();
      const peers = (await aliceNs.exec(["wg", "show", aliceIf, "peers"])).stdout;
      assertStringIncludes(peers, siteKey);
      const endpoints = (await aliceNs.exec(["wg", "show", aliceIf, "endpoints"])).stdout;
      assertStringIncludes(endpoints, `${siteKey}\t${HUB_IP}:${RELAY_PORT}`);
    });

    await t.step("bob reaches nothing and resolves nothing, even with the site's key", async () => {
      assertEquals(await dig(bobNs, ALIAS), "");
      assertEquals(await page(bobNs, `http://${LAN.web}/`), null);
      const siteKey = (await siteNs.exec(["wg", "show", siteIf, "public-key"])).stdout.trim();
      await bobNs.exec([
        "wg",
        "set",
        bobIf,
        "peer",
        siteKey,
        "endpoint",
        `${HUB_IP}:${RELAY_PORT}`,
        "allowed-ips",
        "10.20.0.0/24",
      ]);
      await bobNs.exec(["ip", "route", "add", "10.20.0.0/24", "dev", bobIf]);
      assertEquals(await page(bobNs, `http://${LAN.web}/`), null);
    });

    await t.step("alice widening her allowed IPs reaches nothing more", async () => {
      const siteKey = (await siteNs.exec(["wg", "show", siteIf, "public-key"])).stdout.trim();
      const siteTunnel = siteOf(await agentStatus<Status>(aliceSocket))!.peerAddress;
      const bobTunnel = (await agentStatus<Status>(bobSocket)).networkSettings.tunnelIP
        .split("/")[0];
      await aliceNs.exec([
        "wg",
        "set",
        aliceIf,
        "peer",
        siteKey,
        "allowed-ips",
        `${siteTunnel}/32,${LAN.web}/32,10.20.0.0/24,${bobTunnel}/32`,
      ]);
      await aliceNs.exec(["ip", "route", "add", "10.20.0.0/24", "dev", aliceIf]);
      assertEquals(await page(aliceNs, `http://${LAN.other}/`), null, "another LAN host");
      assertEquals(await page(aliceNs, `http://${LAN.site}/`), null, "the site's LAN address");
      const ping = (address: string) =>
        aliceNs.exec(["ping", "-c", "1", "-W", "1", address], { check: false });
      assert((await ping(bobTunnel)).code !== 0, "another client through the site");
      assert((await ping(siteTunnel)).code !== 0, "the site itself");
      assertEquals(await page(aliceNs, `http://${LAN.web}/`), "hello from the resource");
    });

    await t.step(
      "/switch-org: a non-member org answers 500 and changes nothing; acme has its own sites",
      async () => {
        await hubResource(topo, [
          "add",
          "--site",
          site.id,
          "--destination",
          "10.20.0.7",
          "--org",
          "acme",
        ]);
        const api = unixSocketApi(aliceSocket);
        const before = await agentStatus<Status & { orgId: string }>(aliceSocket);
        const refused = await api("POST", "/switch-org", { orgId: "nope" });
        assertEquals(refused.status, 500);
        const routes = (s: Status) =>
          (s.networkSettings.ipv4_included_routes as { destination_address: string }[])
            .map((r) => r.destination_address);
        const after = await agentStatus<Status & { orgId: string }>(aliceSocket);
        assertEquals(after.orgId, before.orgId);
        assertEquals(routes(after), [LAN.web]);
        assertEquals((await api("POST", "/switch-org", { orgId: "acme" })).status, 200);
        await waitForAgentStatus(
          aliceSocket,
          "the acme view",
          (s: Status & { orgId: string }) =>
            s.orgId === "acme" && s.registered && routes(s).join() === "10.20.0.7",
          20_000,
        );
        assertEquals((await api("POST", "/switch-org", { orgId: "default" })).status, 200);
        await waitForAgentStatus(
          aliceSocket,
          "back in default",
          (s: Status & { orgId: string }) =>
            s.orgId === "default" && s.registered && routes(s).join() === LAN.web,
          20_000,
        );
        await waitFor(
          "the page again",
          async () => await page(aliceNs, `http://${ALIAS}/`) === "hello from the resource",
          20_000,
          300,
        );
      },
    );

    await t.step("a hub restart keeps the resource; alice regains access on her own", async () => {
      await stopProcess(topo.hub!);
      topo.hub = undefined;
      await topo.startHub();
      await waitFor(
        "the page after the restart",
        async () => await page(aliceNs, `http://${ALIAS}/`) === "hello from the resource",
        30_000,
        500,
      );
      await waitForAgentStatus(
        aliceSocket,
        "the site again",
        (s: Status) => Boolean(siteOf(s)?.connected),
        30_000,
      );
    });

    await t.step("removing the resource cuts access within seconds", async () => {
      await hubResource(topo, ["remove", resource.id]);
      await waitForAgentStatus(aliceSocket, "the site removed", (s: Status) => !siteOf(s), 10_000);
      assertEquals(await page(aliceNs, `http://${LAN.web}/`), null);
      assertEquals(await dig(aliceNs, ALIAS), "", "the alias is no longer answered");
    });
  } finally {
    for (const agent of agents) await stopProcess(agent);
    await topo.close();
    for (const etc of netnsEtc) await Deno.remove(etc, { recursive: true }).catch(() => {});
  }
}));
