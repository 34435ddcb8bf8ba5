// What the direct-path end-to-end tests share (./direct_paths_netns_test.ts,
// ./direct_paths_roaming_netns_test.ts, ./direct_paths_open_router_netns_test.ts): `/status` as they read it, the WireGuard device's view
// of a peer, a page fetched through the tunnel, and a site with a client each behind its own
// masquerading router.

import {
  agentStatus,
  hubEndpoint,
  loginFlags,
  startAgent,
  waitForAgentStatus,
} from "../_support/burrow.ts";
import type { Netns } from "../_support/netns.ts";
import {
  HUB_IP,
  hubResource,
  LAN,
  type NatOptions,
  RELAY_PORT,
  type Topology,
} from "./_topology.ts";

export const RELAY = `${HUB_IP}:${RELAY_PORT}`;

export interface PeerJson {
  name: string;
  connected: boolean;
  endpoint: string;
  isRelay: boolean;
  holepunchConnected: boolean;
}

export interface Status {
  connected: boolean;
  registered: boolean;
  peers: Record<string, PeerJson>;
}

export const peerNamed = (status: Status, name: string): PeerJson | undefined =>
  Object.values(status.peers).find((peer) => peer.name === name);

/** The page of the LAN's web server fetched from `ns` ("" when it fails). */
export async function page(ns: Netns): Promise<string> {
  const result = await ns.exec(["curl", "-sS", "-m", "3", `http://${LAN.web}/`], {
    check: false,
  });
  return result.stdout.trim();
}

export async function devicePublicKey(ns: Netns, ifname: string): Promise<string> {
  return (await ns.exec(["wg", "show", ifname, "public-key"])).stdout.trim();
}

/** Where the device `ifname` in `ns` sends to the peer `key` ("" when it has no endpoint). */
export async function deviceEndpoint(ns: Netns, ifname: string, key: string): Promise<string> {
  const lines = (await ns.exec(["wg", "show", ifname, "endpoints"])).stdout;
  return lines.split("\n").find((line) => line.startsWith(key))?.split("\t")[1] ?? "";
}

/** Drops UDP forwarded between this router and `other` (both ways). */
export async function blockRouter(router: Netns, other: string): Promise<void> {
  await router.exec(["nft", "-f", "-"], {
    stdin: `table inet block_direct {
  chain forward { type filter hook forward priority -10; ip daddr ${other} meta l4proto udp drop; ip saddr ${other} meta l4proto udp drop; }
}
`,
  });
}

export async function unblockRouter(router: Netns): Promise<void> {
  await router.exec(["nft", "delete", "table", "inet", "block_direct"]);
}

/**
 * Starts an agent in `ns` logged in from the command line (hole punching on), its API on
 * `${topo.dir}/${name}.sock` and its state in `${topo.dir}/${name}`; waits until it registered.
 *
 * @returns its API socket
 */
export async function startLoggedIn(
  topo: Topology,
  agents: Deno.ChildProcess[],
  ns: Netns,
  name: string,
  ifname: string,
  credentials: { id: string; secret: string },
): Promise<string> {
  const socket = `${topo.dir}/${name}.sock`;
  agents.push(startAgent(ns, {
    stateDir: `${topo.dir}/${name}`,
    socket,
    interface: ifname,
    args: [...loginFlags(hubEndpoint(HUB_IP), credentials), "--ping-interval", "500ms"],
  }));
  await waitForAgentStatus(socket, `${name} registered`, (s: Status) => s.registered);
  return socket;
}

export interface DirectPair {
  siteRouter: Netns;
  siteNs: Netns;
  siteIf: string;
  clientRouter: Netns;
  clientNs: Netns;
  clientIf: string;
  clientSocket: string;
  /** When the client agent started (ms). */
  clientStartedAt: number;
  /** The client's view of the site's peer. */
  sitePeer(): Promise<PeerJson | undefined>;
  /** Waits until the client's path to the site is direct through an endpoint `accept`s. */
  waitDirect(
    what: string,
    accept: (endpoint: string) => boolean,
    timeoutMs: number,
  ): Promise<PeerJson>;
  agents: Deno.ChildProcess[];
}

/**
 * A site behind the router at `siteWan` (LAN 192.168.61.0/24) serving the LAN's web server, a
 * client behind the router at `clientWan` (LAN 192.168.62.0/24), both from the command line
 * (hole punching on) with the given router options. Stop `agents` when done.
 */
export async function startDirectPair(
  topo: Topology,
  name: string,
  siteWan: string,
  clientWan: string,
  nat: { site?: NatOptions; client?: NatOptions } = {},
): Promise<DirectPair> {
  const agents: Deno.ChildProcess[] = [];
  const { router: siteRouter, host: siteNs } = await topo.addNatHost(
    `${name}-s`,
    siteWan,
    "192.168.61",
    nat.site,
  );
  const { router: clientRouter, host: clientNs } = await topo.addNatHost(
    `${name}-c`,
    clientWan,
    "192.168.62",
    nat.client,
  );
  await topo.attachLan(siteNs);
  const site = await topo.addClient("nat-site"), client = await topo.addClient("roamer");
  const siteIf = `${name}s${topo.suffix}`.slice(0, 15);
  const clientIf = `${name}c${topo.suffix}`.slice(0, 15);
  await startLoggedIn(topo, agents, siteNs, "site", siteIf, site);
  await hubResource(topo, ["add", "--site", site.id, "--destination", LAN.web]);
  const clientStartedAt = Date.now();
  const clientSocket = await startLoggedIn(topo, agents, clientNs, "client", clientIf, client);
  const sitePeer = async () => peerNamed(await agentStatus<Status>(clientSocket), "nat-site");
  return {
    siteRouter,
    siteNs,
    siteIf,
    clientRouter,
    clientNs,
    clientIf,
    clientSocket,
    clientStartedAt,
    sitePeer,
    async waitDirect(what, accept, timeoutMs) {
      await waitForAgentStatus(clientSocket, what, (s: Status) => {
        const peer = peerNamed(s, "nat-site");
        return Boolean(
          peer && !peer.isRelay && peer.holepunchConnected && accept(peer.endpoint),
        );
      }, timeoutMs);
      return (await sitePeer())!;
    },
    agents,
  };
}

/**
 * Samples the client's `/status` every `everyMs` until stopped, and fetches the page at each
 * sample: `/status` must tell the truth at each step (relayed exactly when the endpoint is the
 * relay, a direct path only after a direct test succeeded), and the longest time without a
 * page shows whether traffic kept flowing.
 */
export function watchPath(pair: DirectPair, everyMs = 250): {
  stop(): Promise<{ lies: string[]; longestGapMs: number; routes: string[] }>;
} {
  const lies: string[] = [];
  const routes: string[] = [];
  let longestGapMs = 0, lastPageAt = Date.now(), running = true;
  let stopped: Promise<{ lies: string[]; longestGapMs: number; routes: string[] }> | undefined;
  const pause = () => new Promise((resolve) => setTimeout(resolve, everyMs));
  const statusLoop = (async () => {
    while (running) {
      const peer = await pair.sitePeer().catch(() => undefined);
      if (peer) {
        const route = peer.isRelay ? "relay" : `direct ${peer.endpoint}`;
        if (routes.at(-1) !== route) routes.push(route);
        if (peer.isRelay !== (peer.endpoint === RELAY)) lies.push(JSON.stringify(peer));
      }
      await pause();
    }
  })();
  const pageLoop = (async () => {
    while (running) {
      if (await page(pair.clientNs) === "hello from the resource") {
        longestGapMs = Math.max(longestGapMs, Date.now() - lastPageAt);
        lastPageAt = Date.now();
      }
      await pause();
    }
  })();
  return {
    /** Stops sampling (again: the same answer). */
    stop() {
      running = false;
      stopped ??= Promise.all([statusLoop, pageLoop]).then(() => {
        longestGapMs = Math.max(longestGapMs, Date.now() - lastPageAt);
        return { lies, longestGapMs, routes };
      });
      return stopped;
    },
  };
}
