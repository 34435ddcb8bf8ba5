// IPv6 resource destinations (issue #9), in namespaces this test creates: the topology of
// ./_topology.ts with IPv6 on the site's LAN (fd00:20::/64, web servers with no route back).
// A resource on an IPv6 address with an alias: the client's DNS proxy answers AAAA (and no A),
// the page loads over IPv6 by name, masqueraded to the site's LAN address; the site's table
// holds the ip6 grant; a client widening its allowed IPs to the rest of the LAN reaches nothing
// more; IPv6 forwarding is on while granted and restored when the site stops; removing the
// resource cuts access.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import {
  agentStatus,
  DENO,
  hubEndpoint,
  loginFlags,
  startAgent,
  waitForAgentStatus,
} from "../_support/burrow.ts";
import { type Netns, netnsTest, stopProcess, waitFor, waitForTcp } from "../_support/netns.ts";
import { siteTableName } from "../../src/site/mod.ts";
import { tunnelIpv6Of } from "../../src/site/tunnel_ipv6.ts";
import { buildTopology, HUB_IP, hubResource, LAN } from "./_topology.ts";

const SITE_IP = "10.79.0.2", ALICE_IP = "10.79.0.3";
const LAN6 = { site: "fd00:20::1", web: "fd00:20::5", other: "fd00:20::6" } as const;
const DNS_PROXY = "100.96.128.1";
const ALIAS = "web6.lab.internal";

interface Status {
  registered: boolean;
  peers: Record<string, { name: string; connected: boolean }>;
  networkSettings: { tunnelIP: string };
}

/** The name of the interface of `ns` holding `address`. */
async function interfaceWith(ns: Netns, address: string): Promise<string> {
  const line = (await ns.exec(["ip", "-o", "addr", "show"])).stdout.split("\n")
    .find((l) => l.includes(` ${address}/`));
  assert(line, `no interface with ${address}`);
  return line.split(/\s+/)[1].split("@")[0];
}

/** A web server on [address]:80 in `ns` answering `text` and the client's address. */
function webServer6(ns: Netns, address: string, text: string): Deno.ChildProcess {
  const code = `Deno.serve({ hostname: "${address}", port: 80, onListen() {} }, ` +
    `(_request, info) => new Response("${text} " + info.remoteAddr.hostname + "\\n"));`;
  return ns.spawn([DENO, "eval", code]);
}

Deno.test(netnsTest("IPv6 resource destinations: AAAA, grants, masquerade, cut", async (t) => {
  const topo = await buildTopology("bv6");
  const { suffix, dir } = topo;
  const netnsEtc: string[] = [];
  let siteAgent: Deno.ChildProcess | undefined;
  try {
    const siteNs = await topo.addHost("bv6-site", SITE_IP);
    const aliceNs = await topo.addHost("bv6-alice", ALICE_IP);
    await topo.attachLan(siteNs);
    const siteLanIf = await interfaceWith(siteNs, LAN.site);
    const lanIf = await interfaceWith(topo.lan, LAN.web);
    await siteNs.exec(["ip", "-6", "addr", "add", `${LAN6.site}/64`, "dev", siteLanIf, "nodad"]);
    for (const address of [LAN6.web, LAN6.other]) {
      await topo.lan.exec(["ip", "-6", "addr", "add", `${address}/64`, "dev", lanIf, "nodad"]);
    }
    topo.children.push(webServer6(topo.lan, LAN6.web, "hello over IPv6 to"));
    topo.children.push(webServer6(topo.lan, LAN6.other, "not a resource, to"));
    await waitForTcp(topo.lan, LAN6.web, 80);
    await waitForTcp(topo.lan, LAN6.other, 80);
    const etc = `/etc/netns/${aliceNs.name}`;
    await Deno.mkdir(etc, { recursive: true });
    netnsEtc.push(etc);
    await Deno.writeTextFile(`${etc}/resolv.conf`, `nameserver ${DNS_PROXY}\n`);

    const site = await topo.addClient("lab6-site");
    const alice = await topo.addClient("alice6");
    const endpoint = hubEndpoint(HUB_IP);
    const siteIf = `bv6s${suffix}`, aliceIf = `bv6a${suffix}`;
    const forwarding6 = async () =>
      (await siteNs.exec(["sysctl", "-n", "net.ipv6.conf.all.forwarding"])).stdout.trim();
    assertEquals(await forwarding6(), "0");
    const siteSocket = `${dir}/site.sock`;
    siteAgent = startAgent(siteNs, {
      stateDir: `${dir}/site`,
      socket: siteSocket,
      interface: siteIf,
      args: [...loginFlags(endpoint, site), "--ping-interval", "500ms"],
    });
    topo.children.push(siteAgent);
    await waitForAgentStatus(siteSocket, "the site registered", (s: Status) => s.registered);
    const resource = await hubResource(topo, [
      "add",
      ...["--site", site.id, "--destination", LAN6.web, "--alias", ALIAS],
      ...["--access", alice.id],
    ]) as { id: string; destination: string };
    assertEquals(resource.destination, `${LAN6.web}/128`);

    const aliceSocket = `${dir}/alice.sock`;
    topo.children.push(startAgent(aliceNs, {
      stateDir: `${dir}/alice`,
      socket: aliceSocket,
      interface: aliceIf,
      args: [
        ...loginFlags(endpoint, alice),
        ...["--ping-interval", "500ms", "--upstream-dns", HUB_IP],
      ],
    }));
    const siteOf = (s: Status) => Object.values(s.peers).find((p) => p.name === "lab6-site");
    const page = async (ns: Netns, url: string) => {
      const result = await ns.exec(["curl", "-sS", "-g", "-m", "3", url], { check: false });
      return result.code === 0 ? result.stdout.trim() : null;
    };
    const dig = async (name: string, type: string) =>
      (await aliceNs.exec(["dig", "+short", "+time=2", "+tries=1", `@${DNS_PROXY}`, name, type], {
        check: false,
      })).stdout.trim();
    const hello = `hello over IPv6 to ${LAN6.site}`;

    await t.step("the alias answers AAAA; the page loads by name, masqueraded", async () => {
      await waitForAgentStatus(aliceSocket, "the site", (s: Status) => !!siteOf(s)?.connected);
      await waitFor("the proxy", async () => await dig(ALIAS, "AAAA") === LAN6.web, 20_000, 300);
      assertEquals(await dig(ALIAS, "A"), "", "no IPv4 address for an IPv6 destination");
      await waitFor("the page", async () => await page(aliceNs, `http://${ALIAS}/`) === hello);
      assertEquals(await page(aliceNs, `http://[${LAN6.web}]/`), hello);
      const aliceTunnel = (await agentStatus<Status>(aliceSocket)).networkSettings.tunnelIP;
      const aliceV6 = tunnelIpv6Of(aliceTunnel)!;
      const addresses = (await aliceNs.exec(["ip", "-6", "-o", "addr", "show", "dev", aliceIf]))
        .stdout;
      assertStringIncludes(addresses, `${aliceV6}/96`);
      const table = (await siteNs.exec(["nft", "list", "table", "inet", siteTableName(siteIf)]))
        .stdout;
      assertStringIncludes(table, `ip6 saddr ${aliceV6} ip6 daddr ${LAN6.web} accept`);
      assertStringIncludes(table, `ip6 saddr ${aliceV6} drop`); // nft lists a one-element set bare
      assertEquals(await forwarding6(), "1");
    });

    await t.step("widened allowed IPs reach no other IPv6 LAN address", async () => {
      const siteKey = (await siteNs.exec(["wg", "show", siteIf, "public-key"])).stdout.trim();
      const allowed = (await aliceNs.exec(["wg", "show", aliceIf, "allowed-ips"])).stdout
        .split("\n").find((l) => l.startsWith(siteKey))!.split("\t")[1].split(" ");
      const widened = [...allowed, "fd00:20::/64"].join(",");
      await aliceNs.exec(["wg", "set", aliceIf, "peer", siteKey, "allowed-ips", widened]);
      await aliceNs.exec(["ip", "-6", "route", "add", "fd00:20::/64", "dev", aliceIf]);
      assertEquals(await page(aliceNs, `http://[${LAN6.other}]/`), null, "another LAN host");
      assertEquals(await page(aliceNs, `http://[${LAN6.site}]/`), null, "the site's address");
      assertEquals(await page(aliceNs, `http://[${LAN6.web}]/`), hello);
    });

    await t.step("removing the resource cuts access", async () => {
      await hubResource(topo, ["remove", resource.id]);
      await waitForAgentStatus(aliceSocket, "the site removed", (s: Status) => !siteOf(s), 10_000);
      assertEquals(await page(aliceNs, `http://[${LAN6.web}]/`), null);
      assertEquals(await dig(ALIAS, "AAAA"), "", "the alias is no longer answered");
    });

    await t.step("the site's IPv6 forwarding is put back when it stops", async () => {
      await stopProcess(siteAgent!);
      assertEquals(await forwarding6(), "0");
    });
  } finally {
    await topo.close();
    for (const etc of netnsEtc) await Deno.remove(etc, { recursive: true }).catch(() => {});
  }
}));
