// Benchmark (make bench): a client reaching a site's resource through the hub's relay against
// the same two agents talking directly, in one run: iperf3 from the client to a host on the
// site's LAN, first relayed (as the hub sets it up), then with both peers pointed at each other.

import { requireBenchSetup } from "../_support/bench.ts";
import { hubEndpoint, loginFlags, startAgent, waitForAgentStatus } from "../_support/burrow.ts";
import { type Netns, stopProcess, waitFor } from "../_support/netns.ts";
import {
  buildTopology,
  HUB_IP,
  hubResource,
  iperfToLan,
  LAN,
  startIperfServer,
} from "./_topology.ts";

const SITE_IP = "10.79.0.2", CLIENT_IP = "10.79.0.3";
const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "5");

await requireBenchSetup("relay benchmark", ["iperf3", "dnsmasq", "nft", "wg"]);

const topo = await buildTopology("bpb");
const agents: Deno.ChildProcess[] = [];

async function wg(ns: Netns, args: string[]): Promise<string> {
  return (await ns.exec(["wg", ...args])).stdout.trim();
}

try {
  const siteNs = await topo.addHost("bpb-site", SITE_IP);
  const clientNs = await topo.addHost("bpb-cli", CLIENT_IP);
  await topo.attachLan(siteNs);
  const site = await topo.addClient("site"), client = await topo.addClient("client");
  const siteIf = `bpbs${topo.suffix}`, clientIf = `bpbc${topo.suffix}`;
  const siteSocket = `${topo.dir}/site.sock`, clientSocket = `${topo.dir}/client.sock`;
  const endpoint = hubEndpoint(HUB_IP);
  agents.push(startAgent(siteNs, {
    stateDir: `${topo.dir}/site`,
    socket: siteSocket,
    interface: siteIf,
    args: [...loginFlags(endpoint, site), "--log-level", "warn"],
  }));
  await waitForAgentStatus(
    siteSocket,
    "site registered",
    (s: { registered: boolean }) => s.registered,
  );
  await hubResource(topo, ["add", "--site", site.id, "--destination", LAN.web]);
  agents.push(startAgent(clientNs, {
    stateDir: `${topo.dir}/client`,
    socket: clientSocket,
    interface: clientIf,
    args: [...loginFlags(endpoint, client), "--log-level", "warn"],
  }));
  const reaches = async () =>
    (await clientNs.exec(["ping", "-c", "1", "-W", "1", LAN.web], { check: false })).code === 0;
  await waitFor("the resource through the relay", reaches, 30_000, 200);
  await startIperfServer(topo);

  const relayed = await iperfToLan(clientNs, SECONDS);

  // The same pair, direct: each peer's endpoint set to the other agent's own socket.
  const siteKey = await wg(siteNs, ["show", siteIf, "public-key"]);
  const clientKey = await wg(clientNs, ["show", clientIf, "public-key"]);
  const sitePort = await wg(siteNs, ["show", siteIf, "listen-port"]);
  const clientPort = await wg(clientNs, ["show", clientIf, "listen-port"]);
  await wg(clientNs, ["set", clientIf, "peer", siteKey, "endpoint", `${SITE_IP}:${sitePort}`]);
  await wg(siteNs, ["set", siteIf, "peer", clientKey, "endpoint", `${CLIENT_IP}:${clientPort}`]);
  await waitFor(
    "the direct path",
    async () => {
      await reaches();
      const endpoints = await wg(siteNs, ["show", siteIf, "endpoints"]);
      return endpoints.includes(`${clientKey}\t${CLIENT_IP}:${clientPort}`);
    },
    10_000,
    200,
  );
  const direct = await iperfToLan(clientNs, SECONDS);

  console.log(`client -> site resource, iperf3 ${SECONDS} s:`);
  console.log(`  through the hub's relay  ${relayed.toFixed(1)} Mbit/s`);
  console.log(`  direct between agents    ${direct.toFixed(1)} Mbit/s`);
  console.log(`  relay / direct           ${(relayed / direct).toFixed(2)}`);
} finally {
  for (const agent of agents) await stopProcess(agent);
  await topo.close();
}
