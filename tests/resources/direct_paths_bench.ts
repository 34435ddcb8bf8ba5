// Benchmark (make bench): a client and a site, each behind its own masquerading router, in one
// run: iperf3 client -> site resource over the hole-punched direct path, then the time from
// blocking UDP between the routers to traffic flowing again over the hub's relay, then iperf3
// over the relay; prints the direct/relayed ratio.

import { requireBenchSetup } from "../_support/bench.ts";
import { hubEndpoint, loginFlags, startAgent, waitForAgentStatus } from "../_support/burrow.ts";
import { stopProcess, waitFor } from "../_support/netns.ts";
import {
  buildTopology,
  HUB_IP,
  hubResource,
  iperfToLan,
  LAN,
  startIperfServer,
} from "./_topology.ts";

const R1 = "10.79.0.11", R2 = "10.79.0.12";
const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "5");

await requireBenchSetup("direct paths benchmark", ["iperf3", "dnsmasq", "nft", "wg"]);

interface Status {
  registered: boolean;
  peers: Record<string, { name: string; isRelay: boolean; holepunchConnected: boolean }>;
}

const topo = await buildTopology("bdb");
const agents: Deno.ChildProcess[] = [];
try {
  const { router: r1, host: siteNs } = await topo.addNatHost("bdb-site", R1, "192.168.61");
  const { router: r2, host: clientNs } = await topo.addNatHost("bdb-cli", R2, "192.168.62");
  await topo.attachLan(siteNs);
  const site = await topo.addClient("site"), client = await topo.addClient("client");
  const endpoint = hubEndpoint(HUB_IP);
  const siteSocket = `${topo.dir}/site.sock`, clientSocket = `${topo.dir}/client.sock`;
  agents.push(startAgent(siteNs, {
    stateDir: `${topo.dir}/site`,
    socket: siteSocket,
    interface: `bdbs${topo.suffix}`,
    args: [...loginFlags(endpoint, site), "--log-level", "warn"],
  }));
  await waitForAgentStatus(siteSocket, "site registered", (s: Status) => s.registered);
  await hubResource(topo, ["add", "--site", site.id, "--destination", LAN.web]);
  agents.push(startAgent(clientNs, {
    stateDir: `${topo.dir}/client`,
    socket: clientSocket,
    interface: `bdbc${topo.suffix}`,
    args: [...loginFlags(endpoint, client), "--log-level", "warn", "--ping-interval", "500ms"],
  }));
  const sitePeer = (s: Status) => Object.values(s.peers).find((p) => p.name === "site");
  await waitForAgentStatus(clientSocket, "a direct path", (s: Status) => {
    const peer = sitePeer(s);
    return Boolean(peer && !peer.isRelay && peer.holepunchConnected);
  }, 60_000);
  await startIperfServer(topo);
  const direct = await iperfToLan(clientNs, SECONDS);

  const block = (other: string) =>
    `table inet block_direct {
  chain forward { type filter hook forward priority -10; ip daddr ${other} meta l4proto udp drop; ip saddr ${other} meta l4proto udp drop; }
}
`;
  await r1.exec(["nft", "-f", "-"], { stdin: block(R2) });
  await r2.exec(["nft", "-f", "-"], { stdin: block(R1) });
  const blockedAt = Date.now();
  await waitFor(
    "traffic over the relay",
    async () =>
      (await clientNs.exec(["ping", "-c", "1", "-W", "1", LAN.web], { check: false })).code === 0,
    60_000,
    100,
  );
  const failoverMs = Date.now() - blockedAt;
  await waitForAgentStatus(clientSocket, "relayed", (s: Status) => Boolean(sitePeer(s)?.isRelay));
  const relayed = await iperfToLan(clientNs, SECONDS);

  console.log(`client -> site resource through two NATs, iperf3 ${SECONDS} s:`);
  console.log(`  direct (hole-punched)    ${direct.toFixed(1)} Mbit/s`);
  console.log(`  relayed through the hub  ${relayed.toFixed(1)} Mbit/s`);
  console.log(`  direct / relayed         ${(direct / relayed).toFixed(2)}`);
  console.log(`  blocked path -> traffic over the relay: ${(failoverMs / 1000).toFixed(1)} s`);
} finally {
  for (const agent of agents) await stopProcess(agent);
  await topo.close();
}
