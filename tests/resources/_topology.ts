// The private-resources topology the end-to-end test and the benchmark share, in namespaces
// they create: an "internet" namespace with the hub, a bridge and a DNS upstream (dnsmasq);
// agents on that bridge (a site and clients); behind the site a LAN namespace with web servers
// at 10.20.0.5 and 10.20.0.6 and no route back to anything but its own network.

import {
  addHubClient,
  BURROW,
  type ClientCredentials,
  DENO,
  startHub,
  unixSocketApi,
} from "../_support/burrow.ts";
import {
  linkNamespaces,
  type Netns,
  NetnsGroup,
  run,
  stopProcess,
  uniqueSuffix,
  waitFor,
  waitForTcp,
} from "../_support/netns.ts";
import { startDnsmasq } from "../_support/dnsmasq.ts";

export const HUB_IP = "10.79.0.1";
export const RELAY_PORT = 21820;
export const LAN = { site: "10.20.0.1", web: "10.20.0.5", other: "10.20.0.6" } as const;
/** What the upstream DNS server (dnsmasq) answers. */
export const OUTSIDE = { name: "outside.example", address: "192.0.2.80" } as const;

export interface NatOptions {
  /**
   * Whether the router drops unsolicited packets to itself (a home router's input firewall).
   * Without it such a packet becomes a conntrack entry of the router's own. @default true
   */
  inputFirewall?: boolean;
}

/** The LAN bridge inside every router addNatLan makes. */
const ROUTER_LAN = "lan0";

export interface Topology {
  suffix: string;
  dir: string;
  namespaces: NetnsGroup;
  internet: Netns;
  lan: Netns;
  hubState: string;
  hub: Deno.ChildProcess | undefined;
  /** Starts (or restarts) the hub. */
  startHub(): Promise<void>;
  /** A namespace on the bridge with `address` (/24), default route to the hub's host. */
  addHost(prefix: string, address: string): Promise<Netns>;
  /**
   * A host behind its own masquerading router: the router sits on the bridge at `wan` (/24),
   * the host at `lanPrefix`.2/24 behind it (the router is `lanPrefix`.1).
   */
  addNatHost(
    prefix: string,
    wan: string,
    lanPrefix: string,
    options?: NatOptions,
  ): Promise<{ router: Netns; host: Netns }>;
  /** Like addNatHost with `count` hosts on one LAN behind the router (`lanPrefix`.2, .3, ...). */
  addNatLan(
    prefix: string,
    wan: string,
    lanPrefix: string,
    count: number,
    options?: NatOptions,
  ): Promise<{ router: Netns; hosts: Netns[] }>;
  /**
   * Moves `host` to the LAN of `router` (made by addNatLan) at `address` (/24; the router is
   * .1): the link of its old default route goes, the new one carries its default route (a
   * laptop changing network).
   */
  moveHost(host: Netns, router: Netns, address: string): Promise<void>;
  /** Joins `site` to the LAN (10.20.0.1/24 on its side). */
  attachLan(site: Netns): Promise<void>;
  addClient(name: string, ...extra: string[]): Promise<ClientCredentials>;
  children: Deno.ChildProcess[];
  close(): Promise<void>;
}

/** Serves `text` on port 80 of `address` inside `ns` with a tiny Deno server. */
function webServer(ns: Netns, address: string, text: string): Deno.ChildProcess {
  const code = `Deno.serve({ hostname: "${address}", port: 80, onListen() {} }, ` +
    `() => new Response("${text}\\n"));`;
  return ns.spawn([DENO, "eval", code]);
}

export async function buildTopology(prefix: string): Promise<Topology> {
  const suffix = uniqueSuffix();
  const dir = await Deno.makeTempDir({ prefix: `${prefix}-` });
  const namespaces = new NetnsGroup();
  const children: Deno.ChildProcess[] = [];
  const topology: Topology = {
    suffix,
    dir,
    namespaces,
    internet: undefined as unknown as Netns,
    lan: undefined as unknown as Netns,
    hubState: `${dir}/hub`,
    hub: undefined,
    children,
    async startHub() {
      topology.hub = await startHub(topology.internet, topology.internet, {
        stateDir: topology.hubState,
        publicHost: HUB_IP,
        interface: `${prefix}h${suffix}`.slice(0, 15),
        portRange: "22200-22209",
        ...(Deno.env.get("BURROW_TEST_HUB_LOG") ? { logLevel: "debug", stderr: "inherit" } : {}),
      });
    },
    async addHost(hostPrefix, address) {
      const ns = await namespaces.create(hostPrefix);
      const { ifB } = await linkNamespaces(ns, topology.internet, [`${address}/24`], []);
      await topology.internet.exec(["ip", "link", "set", ifB, "master", "br0"]);
      await ns.exec(["ip", "route", "add", "default", "via", HUB_IP]);
      return ns;
    },
    async addNatHost(hostPrefix, wan, lanPrefix, options) {
      const { router, hosts } = await topology.addNatLan(hostPrefix, wan, lanPrefix, 1, options);
      return { router, host: hosts[0] };
    },
    async addNatLan(hostPrefix, wan, lanPrefix, count, options = {}) {
      const router = await topology.addHost(`${hostPrefix}-r`, wan);
      const routerLan = ROUTER_LAN;
      await router.exec(["ip", "link", "add", routerLan, "type", "bridge"]);
      await router.exec(["ip", "addr", "add", `${lanPrefix}.1/24`, "dev", routerLan]);
      await router.exec(["ip", "link", "set", routerLan, "up"]);
      const hosts: Netns[] = [];
      for (let i = 0; i < count; i++) {
        const host = await namespaces.create(`${hostPrefix}${i || ""}`);
        const { ifB } = await linkNamespaces(host, router, [`${lanPrefix}.${i + 2}/24`], []);
        await router.exec(["ip", "link", "set", ifB, "master", routerLan]);
        await host.exec(["ip", "route", "add", "default", "via", `${lanPrefix}.1`]);
        hosts.push(host);
      }
      await router.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
      // A home router: masquerade out, and nothing unsolicited in (a dropped packet never
      // becomes a conntrack entry, so it cannot steal the port a hole punch needs).
      const input = options.inputFirewall === false
        ? ""
        : `  chain input { type filter hook input priority filter; iifname != "${routerLan}" ct state new drop; }\n`;
      await router.exec(["nft", "-f", "-"], {
        stdin: `table ip nat {
  chain postrouting { type nat hook postrouting priority srcnat; oifname != "${routerLan}" masquerade; }
${input}}
`,
      });
      return { router, hosts };
    },
    async moveHost(host, router, address) {
      const route = (await host.exec(["ip", "-o", "route", "show", "default"])).stdout;
      const old = route.match(/ dev (\S+)/)?.[1];
      const { ifB } = await linkNamespaces(host, router, [`${address}/24`], []);
      await router.exec(["ip", "link", "set", ifB, "master", ROUTER_LAN]);
      // The old link goes with its default route: the host is on the new network only.
      if (old) await host.exec(["ip", "link", "del", old]);
      const gateway = address.replace(/\.\d+$/, ".1");
      await host.exec(["ip", "route", "replace", "default", "via", gateway]);
    },
    async attachLan(site) {
      await linkNamespaces(site, topology.lan, [`${LAN.site}/24`], [`${LAN.web}/24`]);
      const lanIf = (await topology.lan.exec(["ip", "-o", "link", "show", "type", "veth"])).stdout
        .split(":")[1].trim().split("@")[0];
      await topology.lan.exec(["ip", "addr", "add", `${LAN.other}/24`, "dev", lanIf]);
      children.push(webServer(topology.lan, LAN.web, "hello from the resource"));
      children.push(webServer(topology.lan, LAN.other, "not a resource"));
      await waitForTcp(topology.lan, LAN.web, 80);
      await waitForTcp(topology.lan, LAN.other, 80);
    },
    addClient(name, ...extra) {
      return addHubClient(topology.hubState, name, extra);
    },
    async close() {
      for (const child of children.splice(0)) await stopProcess(child, 1000);
      if (topology.hub) await stopProcess(topology.hub);
      await namespaces.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  try {
    topology.internet = await namespaces.create(`${prefix}-net`);
    await topology.internet.exec(["ip", "link", "add", "br0", "type", "bridge"]);
    await topology.internet.exec(["ip", "addr", "add", `${HUB_IP}/24`, "dev", "br0"]);
    await topology.internet.exec(["ip", "link", "set", "br0", "up"]);
    topology.lan = await namespaces.create(`${prefix}-lan`);
    // The DNS upstream: answers outside.example, refuses to know anything else.
    children.push(
      await startDnsmasq(topology.internet, HUB_IP, { [OUTSIDE.name]: OUTSIDE.address }),
    );
    await topology.startHub();
    return topology;
  } catch (error) {
    await topology.close();
    throw error;
  }
}

/** Starts iperf3's server on the LAN's web host and waits until it accepts. */
export async function startIperfServer(topology: Topology): Promise<void> {
  topology.children.push(topology.lan.spawn(["iperf3", "-s", "-B", LAN.web]));
  await waitForTcp(topology.lan, LAN.web, 5201);
}

/** iperf3 from `client` to the LAN's web host: the received rate in Mbit/s. */
export async function iperfToLan(client: Netns, seconds: number): Promise<number> {
  const result = await client.exec(["iperf3", "-c", LAN.web, "-t", String(seconds), "-J"]);
  return JSON.parse(result.stdout).end.sum_received.bits_per_second / 1e6;
}

/** `POST /connect` on an agent's socket, retried until its API answers 202. */
export function connectThroughApi(
  socket: string,
  body: Record<string, unknown>,
): Promise<void> {
  return waitFor(
    "the agent's API",
    async () => (await unixSocketApi(socket)("POST", "/connect", body)).status === 202,
    30_000,
    200,
  );
}

/** `burrow hub resource ...` on the topology's hub state; the parsed JSON answer. */
export async function hubResource(topology: Topology, args: string[]): Promise<unknown> {
  const result = await run([BURROW, "hub", "resource", ...args, "--state-dir", topology.hubState]);
  return JSON.parse(result.stdout);
}
