// Operability end to end (issue #14 items 4 and 8): `burrow hub` with HTTPS, `--client-ca` and
// `--metrics-addr`, and `burrow agent` with `--hub-ca` and a PKCS#12 `--tls-client-cert`, each
// in a network namespace, certificates made by openssl for this run. Mutual TLS carries the
// login and the WebSocket; an agent without a certificate is refused and says so in /status.
// Both ends' /metrics parse as Prometheus text and grow with real traffic: pings through the
// tunnel, HTTP requests through the hub's ingress to the agent's sites, a hub restart.
import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
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
import { curlAnswer } from "../_support/curl.ts";
import { makeMutualTlsFiles } from "../_support/mutual_tls.ts";
import {
  NetnsGroup,
  netnsTest,
  stopProcess,
  uniqueSuffix,
  waitFor,
  waitForTcp,
} from "../_support/netns.ts";
import { parsePrometheus, type Scrape } from "../_support/prometheus.ts";

const HUB_IP = "10.79.1.1", AGENT_IP = "10.79.1.2";
const CONTROL_PORT = 8443, METRICS_PORT = 9464;
const SITE = "files.metrics.test", BROKEN = "broken.metrics.test";

interface Status {
  connected: boolean;
  registered: boolean;
  peers: Record<string, { name: string; rtt: number; peerAddress: string }>;
  error?: { code: string; message: string };
}

Deno.test(netnsTest("metrics and mutual TLS between a real agent and hub", async (t) => {
  const suffix = uniqueSuffix();
  const dir = await Deno.makeTempDir({ prefix: "bag-ops-" });
  const socket = `${dir}/agent.sock`;
  const namespaces = new NetnsGroup();
  const children: Deno.ChildProcess[] = [];
  let hub: Deno.ChildProcess | undefined;
  try {
    const hubNs = await namespaces.create("bop-hub");
    const agentNs = await namespaces.createLinked("bop-ag", hubNs, {
      addresses: [`${AGENT_IP}/24`],
      peerAddresses: [`${HUB_IP}/24`],
    });
    const tls = await makeMutualTlsFiles(dir, [HUB_IP]);
    const hubState = `${dir}/hub`;
    const cred = await addHubClient(hubState, "ops");
    const launchHub = async () => {
      hub = spawnBurrow(hubNs, [
        "hub",
        "--state-dir",
        hubState,
        "--listen",
        `0.0.0.0:${CONTROL_PORT}`,
        "--public-host",
        HUB_IP,
        "--interface",
        `boph${suffix}`,
        "--port-range",
        "22200-22209",
        "--tls-cert",
        tls.certFile,
        "--tls-key",
        tls.keyFile,
        "--client-ca",
        tls.caFile,
        "--metrics-addr",
        `127.0.0.1:${METRICS_PORT}`,
      ]);
      await waitForTcp(agentNs, HUB_IP, CONTROL_PORT, 30_000);
    };
    await launchHub();
    const endpoint = `https://${HUB_IP}:${CONTROL_PORT}`;

    const agent = startAgent(agentNs, {
      stateDir: `${dir}/agent`,
      socket,
      interface: `bopa${suffix}`,
      args: [
        ...loginFlags(endpoint, cred),
        "--hub-ca",
        tls.caFile,
        "--tls-client-cert",
        tls.clientP12,
        "--ping-interval",
        "500ms",
      ],
    });
    children.push(agent);
    const api = unixSocketApi(socket);
    const status = () => agentStatus<Status>(socket);
    const agentScrape = async (): Promise<Scrape> => {
      const answer = await api("GET", "/metrics");
      assertEquals(answer.status, 200);
      assertEquals(answer.contentType, "text/plain; version=0.0.4; charset=utf-8");
      return parsePrometheus(answer.body);
    };
    const hubScrape = async (): Promise<Scrape> => {
      const answer = await curlAnswer(hubNs, [`http://127.0.0.1:${METRICS_PORT}/metrics`]);
      assertEquals(answer.status, 200);
      return parsePrometheus(answer.body);
    };

    let hubKey = "", serverIP = "";
    await t.step("mutual TLS: the agent logs in and registers over HTTPS", async () => {
      await waitForAgentStatus<Status>(socket, "registered", (s) => s.registered, 30_000);
      const s = await status();
      assertEquals(s.error, undefined);
      serverIP = Object.values(s.peers)[0].peerAddress;
      const scrape = await agentScrape();
      const tx = scrape.series("burrow_tunnel_transmit_bytes_total");
      assertEquals(tx.length, 1);
      hubKey = tx[0].labels.peer;
      assert(/^[A-Za-z0-9+/]{43}=$/.test(hubKey), hubKey);
    });

    await t.step("tunnel counters grow with pings; handshake and RTT are reported", async () => {
      const before = await agentScrape();
      const txBefore = before.value("burrow_tunnel_transmit_bytes_total", { peer: hubKey })!;
      const rxBefore = before.value("burrow_tunnel_receive_bytes_total", { peer: hubKey })!;
      const ping = await agentNs.exec(["ping", "-c", "5", "-i", "0.2", "-s", "1000", serverIP]);
      assertStringIncludes(ping.stdout, "5 received");
      const after = await agentScrape();
      // Five 1000-byte echo requests out and five replies back, at least.
      assert(
        after.value("burrow_tunnel_transmit_bytes_total", { peer: hubKey })! >= txBefore + 5000,
      );
      assert(
        after.value("burrow_tunnel_receive_bytes_total", { peer: hubKey })! >= rxBefore + 5000,
      );
      const handshake = after.value("burrow_tunnel_last_handshake_seconds", { peer: hubKey })!;
      assert(Math.abs(handshake - Date.now() / 1000) < 300, `handshake at ${handshake}`);
      await waitFor(
        "an RTT sample",
        async () =>
          ((await agentScrape()).value("burrow_peer_rtt_seconds", { peer: "hub" }) ?? 0) > 0,
        20_000,
      );
      assertEquals(after.value("burrow_session_registered"), 1);
      // The hub counts the same tunnel from its side, and one agent online.
      const hubSide = await hubScrape();
      assertEquals(hubSide.value("burrow_hub_agents_online"), 1);
      assert(hubSide.series("burrow_tunnel_receive_bytes_total").some((s) => s.value >= 5000));
    });

    await t.step(
      "site requests and upstream errors are counted by site, on both ends",
      async () => {
        const webRoot = `${dir}/www`;
        await Deno.mkdir(webRoot);
        await Deno.writeTextFile(`${webRoot}/index.html`, "hello metrics\n");
        const created = await api("POST", "/api/client/v1.0/traffic/create", {
          https: [
            { domain: SITE, webRoot },
            { domain: BROKEN, destination: "127.0.0.1", port: 1 },
          ],
        });
        assertEquals(created.status, 200, created.body);
        const rules = await agentScrape();
        assertEquals(rules.value("burrow_rules", { kind: "https" }), 2);
        assertEquals(rules.value("burrow_rules", { kind: "portmaps" }), 0);
        const get = (host: string) =>
          curlAnswer(agentNs, ["-H", `Host: ${host}`, `http://${HUB_IP}/index.html`]);
        await waitFor(
          "the site through the hub",
          async () => (await get(SITE)).status === 200,
          20_000,
        );
        for (let i = 0; i < 3; i++) {
          assertEquals((await get(SITE)).body.trim(), "hello metrics");
        }
        assertEquals((await get(BROKEN)).status, 502);
        const scrape = await agentScrape();
        assert(scrape.value("burrow_http_requests_total", { site: SITE })! >= 4);
        assertEquals(scrape.value("burrow_http_requests_total", { site: BROKEN }), 1);
        assertEquals(scrape.value("burrow_http_upstream_errors_total", { site: BROKEN }), 1);
        assertEquals(scrape.value("burrow_http_upstream_errors_total", { site: SITE }), undefined);
        const hubSide = await hubScrape();
        const connections = hubSide.value("burrow_hub_ingress_connections_total", {
          agent: cred.id,
        })!;
        assert(connections >= 5, `connections ${connections}`);
        const bytesIn = hubSide.value("burrow_hub_ingress_bytes_total", {
          agent: cred.id,
          direction: "in",
        })!;
        const bytesOut = hubSide.value("burrow_hub_ingress_bytes_total", {
          agent: cred.id,
          direction: "out",
        })!;
        assert(bytesIn > 5 * 40 && bytesOut > 4 * "hello metrics".length, `${bytesIn} ${bytesOut}`);
      },
    );

    await t.step("port-map bytes are counted by agent on the hub", async () => {
      const echo = agentNs.spawn([
        "socat",
        `TCP-LISTEN:18090,bind=${AGENT_IP},fork,reuseaddr`,
        "EXEC:cat",
      ]);
      children.push(echo);
      await waitForTcp(agentNs, AGENT_IP, 18090, 10_000);
      const created = await api("POST", "/api/client/v1.0/traffic/create", {
        portmaps: [{ port: 15090, dstPort: 18090, destination: AGENT_IP }],
      });
      assertEquals(created.status, 200, created.body);
      await waitForTcp(agentNs, "127.0.0.1", 15090, 10_000);
      const payload = "through the port map";
      const sent = await agentNs.exec([
        "sh",
        "-c",
        `printf '${payload}' | socat -t 3 - TCP:127.0.0.1:15090`,
      ]);
      assertEquals(sent.stdout, payload);
      const byAgent = (direction: string) =>
        hubScrape().then((s) =>
          s.value("burrow_hub_portmap_bytes_total", { agent: cred.id, direction }) ?? 0
        );
      await waitFor("the bytes counted", async () => (await byAgent("received")) >= payload.length);
      assert((await byAgent("sent")) >= payload.length);
      assertEquals((await agentScrape()).value("burrow_rules", { kind: "portmaps" }), 1);
    });

    await t.step("a hub restart counts a reconnect", async () => {
      assertEquals((await agentScrape()).value("burrow_session_reconnects_total"), 0);
      await stopProcess(hub!);
      hub = undefined;
      await waitForAgentStatus<Status>(socket, "the drop", (s) => !s.connected, 20_000);
      await launchHub();
      await waitForAgentStatus<Status>(socket, "registered again", (s) => s.registered, 60_000);
      assert((await agentScrape()).value("burrow_session_reconnects_total")! >= 1);
    });

    await t.step("an agent without a client certificate is refused and says why", async () => {
      const logs: string[][] = [];
      const bare = startAgent(agentNs, {
        stateDir: `${dir}/bare`,
        socket: `${dir}/bare.sock`,
        interface: `bopb${suffix}`,
        args: [...loginFlags(endpoint, cred), "--hub-ca", tls.caFile],
        stderr: "piped",
      });
      children.push(bare);
      logs.push(collectOutput(bare.stderr));
      await waitForAgentStatus<Status>(
        `${dir}/bare.sock`,
        "a TLS error",
        (s) => s.error?.code === "tls",
        30_000,
      );
      const s = await agentStatus<Status>(`${dir}/bare.sock`);
      assertEquals([s.connected, s.registered], [false, false]);
      assertStringIncludes(s.error!.message, "client certificate: none");
      await waitFor("the log line", () => logs.flat().join("").includes("clientCert=none"), 5_000);
      // The first agent, with its certificate, is still registered.
      assertEquals((await status()).registered, true);
    });
  } finally {
    for (const child of children.reverse()) await stopProcess(child);
    if (hub) await stopProcess(hub);
    await namespaces.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}));
