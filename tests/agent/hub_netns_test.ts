// `burrow agent` against a real `burrow hub`, each in a network namespace this test creates
// (prefix bag), joined by a veth pair: connect, registered, ping through the real WireGuard
// tunnel, measured rtt, a site served through the hub, a hub restart with reconnect and
// re-register on its own and the site answering within 10 s of the hub listening again
// (issue #13 item 11: the agent handshakes at once on re-registration), /disconnect
// removing the interface, a wrong secret ending terminated, restart restoring the identity.
import { assert, assertEquals } from "../_support/assert.ts";
import { curlAnswer } from "../_support/curl.ts";
import {
  addHubClient,
  agentStatus,
  collectOutput,
  hubEndpoint,
  loginFlags,
  startAgent,
  startHub,
  unixSocketApi,
  waitForAgentStatus,
} from "../_support/burrow.ts";
import { NetnsGroup, netnsTest, stopProcess, uniqueSuffix, waitFor } from "../_support/netns.ts";

const HUB_IP = "10.78.1.1", AGENT_IP = "10.78.1.2";

interface Status {
  connected: boolean;
  registered: boolean;
  terminated: boolean;
  orgId: string;
  peers: Record<string, {
    connected: boolean;
    rtt: number;
    lastSeen: string;
    peerAddress: string;
    endpoint: string;
  }>;
  networkSettings: { tunnelIP: string };
  error?: { code: string; message: string };
}

Deno.test(netnsTest("burrow agent and burrow hub end to end in namespaces", async (t) => {
  const suffix = uniqueSuffix();
  const dir = await Deno.makeTempDir({ prefix: "bag-e2e-" });
  const socket = `${dir}/agent.sock`;
  const agentIf = `bag${suffix}`;
  const namespaces = new NetnsGroup();
  let hub: Deno.ChildProcess | undefined;
  let agent: Deno.ChildProcess | undefined;
  const agentLogs: string[][] = [];
  try {
    const hubNs = await namespaces.create("bag-hub");
    const agentNs = await namespaces.createLinked("bag-ag", hubNs, {
      addresses: [`${AGENT_IP}/24`],
      peerAddresses: [`${HUB_IP}/24`],
    });

    const hubState = `${dir}/hub`;
    const cred = await addHubClient(hubState, "e2e");
    const launchHub = async () => {
      hub = await startHub(hubNs, agentNs, {
        stateDir: hubState,
        publicHost: HUB_IP,
        interface: `bagh${suffix}`,
        portRange: "22100-22109",
      });
    };
    await launchHub();

    const launchAgent = (extra: string[]) => {
      const child = startAgent(agentNs, {
        stateDir: `${dir}/agent`,
        socket,
        interface: agentIf,
        args: ["--ping-interval", "500ms", "--log-level", "debug", ...extra],
        stderr: "piped",
      });
      // Keep every log line to check that the secret never appears.
      agentLogs.push(collectOutput(child.stderr));
      return child;
    };
    const api = unixSocketApi(socket);
    const status = () => agentStatus<Status>(socket);
    const statusUntil = (what: string, ready: (s: Status) => boolean, timeoutMs: number) =>
      waitForAgentStatus(socket, what, ready, timeoutMs);
    const linkExists = async () =>
      (await agentNs.exec(["ip", "link", "show", agentIf], { check: false })).code === 0;

    agent = launchAgent(loginFlags(hubEndpoint(HUB_IP), cred));

    let serverIP = "";
    const pingsHub = async () =>
      (await agentNs.exec(["ping", "-c", "1", "-W", "1", serverIP], { check: false })).code === 0;
    await t.step(
      "the agent connects and registers; its interface has the tunnel address",
      async () => {
        await statusUntil("registered", (s) => s.connected && s.registered, 30_000);
        const s = await status();
        assertEquals(s.terminated, false);
        const tunnelIP = s.networkSettings.tunnelIP;
        assert(/^100\.89\.\d+\.\d+\/20$/.test(tunnelIP), tunnelIP);
        const addr = await agentNs.exec(["ip", "-o", "addr", "show", "dev", agentIf]);
        assert(addr.stdout.includes(tunnelIP), addr.stdout);
        const peers = Object.values(s.peers);
        assertEquals(peers.length, 1);
        serverIP = peers[0].peerAddress;
      },
    );

    await t.step(
      "the hub answers ping through the tunnel; rtt is measured, lastSeen recent",
      async () => {
        await waitFor("ping", pingsHub, 20_000);
        await statusUntil("a measured peer", (s) => {
          const peer = Object.values(s.peers)[0];
          return peer.connected && peer.rtt > 0;
        }, 20_000);
        const peer = Object.values((await status()).peers)[0];
        assert(Number.isInteger(peer.rtt) && peer.rtt > 0, `rtt ${peer.rtt}`);
        assert(Date.now() - Date.parse(peer.lastSeen) < 10_000, `lastSeen ${peer.lastSeen}`);
      },
    );

    const siteAnswers = async () => {
      const answer = await curlAnswer(hubNs, [
        "--max-time",
        "2",
        "--resolve",
        `site.bag.test:80:${HUB_IP}`,
        "http://site.bag.test/",
      ]).catch(() => undefined);
      return answer?.status === 200 && answer.body === "<p>through the hub</p>";
    };
    await t.step("a site with a web root answers through the hub", async () => {
      const webRoot = `${dir}/www`;
      await Deno.mkdir(webRoot);
      await Deno.writeTextFile(`${webRoot}/index.html`, "<p>through the hub</p>");
      const created = await api("POST", "/api/client/v1.0/traffic/create", {
        https: [{ domain: "site.bag.test", webRoot }],
      });
      assertEquals(created.status, 200, created.body);
      await waitFor("the site", siteAnswers, 20_000);
    });

    await t.step(
      "a hub restart: the agent registers again and the site answers within 10 s",
      async () => {
        await stopProcess(hub!);
        await statusUntil("the drop", (s) => !s.connected, 20_000);
        await launchHub();
        const listening = Date.now();
        await waitFor("the site after the restart", siteAnswers, 60_000);
        const elapsed = Date.now() - listening;
        assert(elapsed <= 10_000, `the site answered ${elapsed} ms after the hub listened`);
        await statusUntil("re-registered", (s) => s.connected && s.registered, 10_000);
        await waitFor("ping after the restart", pingsHub, 30_000);
      },
    );

    await t.step(
      "state: 0600 files in a 0700 directory, secret only there and not in /status",
      async () => {
        assertEquals((await Deno.stat(`${dir}/agent`)).mode! & 0o777, 0o700);
        for (const name of ["identity.json", "connection.json"]) {
          assertEquals((await Deno.stat(`${dir}/agent/${name}`)).mode! & 0o777, 0o600, name);
        }
        assert((await Deno.readTextFile(`${dir}/agent/connection.json`)).includes(cred.secret));
        assert(!JSON.stringify(await status()).includes(cred.secret));
      },
    );

    await t.step(
      "a restart without flags resumes the saved session with the same identity",
      async () => {
        const identity = await Deno.readTextFile(`${dir}/agent/identity.json`);
        const tunnelIP = (await status()).networkSettings.tunnelIP;
        assertEquals((await stopProcess(agent!)).code, 0);
        await waitFor("the interface to go", async () => !(await linkExists()), 10_000);
        agent = launchAgent([]);
        await statusUntil("registered again", (s) => s.registered, 30_000);
        assertEquals((await status()).networkSettings.tunnelIP, tunnelIP, "the hub knows the key");
        assertEquals(await Deno.readTextFile(`${dir}/agent/identity.json`), identity);
      },
    );

    await t.step("/disconnect answers once the interface is gone", async () => {
      assert(await linkExists());
      const answer = await api("POST", "/disconnect");
      assertEquals([answer.status, JSON.parse(answer.body)], [200, {
        status: "disconnect initiated",
      }]);
      assertEquals(await linkExists(), false);
      assertEquals((await status()).connected, false);
    });

    await t.step("a wrong secret ends in terminated: true with an error", async () => {
      const answer = await api(
        "POST",
        "/connect",
        JSON.stringify({
          id: cred.id,
          secret: "wrong-secret-123",
          endpoint: `http://${HUB_IP}:8443`,
        }),
      );
      assertEquals(answer.status, 202);
      await statusUntil("terminated", (s) => s.terminated, 20_000);
      const s = await status();
      assertEquals(s.error?.code, "unauthorized");
      assertEquals(s.connected, false);
    });

    await t.step(
      "/exit ends the process and removes the socket; no log line has the secret",
      async () => {
        assertEquals((await api("POST", "/exit")).status, 200);
        const code = await agent!.status;
        assertEquals(code.code, 0);
        agent = undefined;
        assertEquals(await Deno.lstat(socket).then(() => true, () => false), false);
        const logs = agentLogs.flat().join("");
        assert(logs.includes("registered with the hub"), "logs were captured");
        assert(!logs.includes(cred.secret), "the secret never reaches a log line");
      },
    );
  } finally {
    if (agent) await stopProcess(agent);
    if (hub) await stopProcess(hub);
    await namespaces.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}));
