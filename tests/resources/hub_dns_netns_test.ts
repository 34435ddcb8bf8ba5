// `dns` resolves the hub's own name (issue #9 item 4), in namespaces this test creates: a hub
// serving HTTPS with a certificate for a name that only a dnsmasq the test runs knows (it is
// in no hosts file, and the agent's namespace has a resolv.conf naming a server that does not
// exist). Without `dns` the agent says it cannot resolve the name; with `dns` in /connect, and
// with --dns on the command line, it logs in, opens its WebSocket (TLS to that name, verified
// against --hub-ca) and reaches the hub's WireGuard peer, whose endpoint is the same name.

import { assert, assertEquals } from "../_support/assert.ts";
import {
  addHubClient,
  agentStatus,
  collectOutput,
  loginFlags,
  spawnBurrow,
  startAgent,
  unixSocketApi,
  waitForAgentStatus,
} from "../_support/burrow.ts";
import { makeCaSignedCertificate } from "../_support/certificates.ts";
import { startDnsmasq } from "../_support/dnsmasq.ts";
import {
  NetnsGroup,
  netnsTest,
  stopProcess,
  uniqueSuffix,
  waitFor,
  waitForTcp,
} from "../_support/netns.ts";

const HUB_IP = "10.79.2.1", AGENT_IP = "10.79.2.2";
const CONTROL_PORT = 8443;

interface Status {
  registered: boolean;
  peers: Record<string, { connected: boolean; endpoint: string }>;
}

Deno.test(netnsTest("dns resolves the hub's name for the login and the WebSocket", async (t) => {
  const suffix = uniqueSuffix();
  const hubName = `hub-${suffix}.burrow-dns.test`;
  const dir = await Deno.makeTempDir({ prefix: "bhd-" });
  const namespaces = new NetnsGroup();
  const children: Deno.ChildProcess[] = [];
  let etcDir: string | undefined;
  try {
    const hubNs = await namespaces.create("bhd-hub");
    const agentNs = await namespaces.createLinked("bhd-ag", hubNs, {
      addresses: [`${AGENT_IP}/24`],
      peerAddresses: [`${HUB_IP}/24`],
    });
    // The system resolver in the agent's namespace asks a server that is not there.
    etcDir = `/etc/netns/${agentNs.name}`;
    await Deno.mkdir(etcDir, { recursive: true });
    await Deno.writeTextFile(`${etcDir}/resolv.conf`, "nameserver 127.0.0.1\n");
    assert(!(await Deno.readTextFile("/etc/hosts")).includes(hubName));

    children.push(await startDnsmasq(hubNs, HUB_IP, { [hubName]: HUB_IP }));

    const tls = await makeCaSignedCertificate(dir, [hubName]);
    const hubState = `${dir}/hub`;
    const credentials = await addHubClient(hubState, "named");
    children.push(spawnBurrow(hubNs, [
      "hub",
      "--state-dir",
      hubState,
      "--listen",
      `0.0.0.0:${CONTROL_PORT}`,
      "--public-host",
      hubName,
      "--interface",
      `bhdh${suffix}`,
      "--port-range",
      "22200-22209",
      "--tls-cert",
      tls.certFile,
      "--tls-key",
      tls.keyFile,
    ]));
    await waitForTcp(agentNs, HUB_IP, CONTROL_PORT, 30_000);
    const endpoint = `https://${hubName}:${CONTROL_PORT}`;
    const connectBody = { id: credentials.id, secret: credentials.secret, endpoint };
    const connectedToHub = (s: Status) =>
      s.registered && Object.values(s.peers).some((p) => p.connected);

    const socket = `${dir}/agent.sock`;
    const agent = startAgent(agentNs, {
      stateDir: `${dir}/agent`,
      socket,
      interface: `bhda${suffix}`,
      args: ["--hub-ca", tls.caFile, "--ping-interval", "500ms"],
      stderr: "piped",
    });
    children.push(agent);
    const logs = collectOutput(agent.stderr);
    const api = unixSocketApi(socket);
    await waitFor("the agent's API", async () => (await api("GET", "/status")).status === 200);

    await t.step("without dns the system resolver fails, and the log says so", async () => {
      assertEquals((await api("POST", "/connect", connectBody)).status, 202);
      const named = `cannot resolve ${hubName} (DNS)`;
      await waitFor("the named DNS error", () => logs.join("").includes(named), 20_000, 200);
      assertEquals((await agentStatus<Status>(socket)).registered, false);
      assertEquals((await api("POST", "/disconnect")).status, 200);
    });

    await t.step("dns in /connect: login, WebSocket over TLS and the hub's peer", async () => {
      assertEquals((await api("POST", "/connect", { ...connectBody, dns: HUB_IP })).status, 202);
      await waitForAgentStatus<Status>(socket, "registered via dns", connectedToHub, 30_000);
      const peers = Object.values((await agentStatus<Status>(socket)).peers);
      assert(peers.some((p) => p.endpoint.startsWith(hubName)), JSON.stringify(peers));
      assertEquals((await api("POST", "/disconnect")).status, 200);
    });
    await stopProcess(agent);

    await t.step("--dns on the command line does the same", async () => {
      const flagged = startAgent(agentNs, {
        stateDir: `${dir}/agent`,
        socket,
        interface: `bhda${suffix}`,
        args: [
          ...loginFlags(endpoint, credentials),
          "--dns",
          HUB_IP,
          "--hub-ca",
          tls.caFile,
          "--ping-interval",
          "500ms",
        ],
      });
      children.push(flagged);
      await waitForAgentStatus<Status>(socket, "registered via --dns", connectedToHub, 30_000);
    });
  } finally {
    for (const child of children.reverse()) await stopProcess(child);
    await namespaces.destroy();
    if (etcDir) await Deno.remove(etcDir, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}));
