// `burrow agent` against a real `burrow hub`, each in a network namespace this test creates
// (prefix bag), joined by a veth pair: connect, registered, ping through the real WireGuard
// tunnel, measured rtt, hub restart with reconnect and re-register on its own, /disconnect
// removing the interface, a wrong secret ending terminated, restart restoring the identity.
import { assert, assertEquals } from "../_support/assert.ts";
import {
  linkNamespaces,
  Netns,
  netnsTest,
  run,
  uniqueSuffix,
  waitFor,
  waitForTcp,
} from "../_support/netns.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const BURROW = `${ROOT}burrow`;
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

/** SIGTERM, SIGKILL after a grace period; returns the exit status. Never throws. */
async function stopChild(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  try {
    child.kill("SIGTERM");
  } catch { /* exited already */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited already */ }
  }, 5000);
  const status = await child.status;
  clearTimeout(timer);
  return status;
}

Deno.test(netnsTest("burrow agent and burrow hub end to end in namespaces", async (t) => {
  const suffix = uniqueSuffix();
  const dir = await Deno.makeTempDir({ prefix: "bag-e2e-" });
  const socket = `${dir}/agent.sock`;
  const agentIf = `bag${suffix}`;
  const namespaces: Netns[] = [];
  let hub: Deno.ChildProcess | undefined;
  let agent: Deno.ChildProcess | undefined;
  const agentLogs: string[] = [];
  try {
    const hubNs = await Netns.create("bag-hub");
    namespaces.push(hubNs);
    const agentNs = await Netns.create("bag-ag");
    namespaces.push(agentNs);
    await linkNamespaces(agentNs, hubNs, [`${AGENT_IP}/24`], [`${HUB_IP}/24`]);

    const hubState = `${dir}/hub`;
    const cred = JSON.parse(
      (await run([BURROW, "hub", "client", "add", "--state-dir", hubState, "--name", "e2e"]))
        .stdout,
    ) as { id: string; secret: string };
    const startHub = async () => {
      hub = hubNs.spawn([
        BURROW,
        "hub",
        "--state-dir",
        hubState,
        "--listen",
        "0.0.0.0:8443",
        "--public-host",
        HUB_IP,
        "--interface",
        `bagh${suffix}`,
        "--port-range",
        "22100-22109",
      ], { stderr: "null", stdout: "null" });
      await waitForTcp(agentNs, HUB_IP, 8443, 30_000);
    };
    await startHub();

    const startAgent = (extra: string[]) => {
      const child = agentNs.spawn([
        BURROW,
        "agent",
        "--state-dir",
        `${dir}/agent`,
        "--socket-path",
        socket,
        "--interface",
        agentIf,
        "--ping-interval",
        "500ms",
        "--log-level",
        "debug",
        ...extra,
      ], { stdout: "null", stderr: "piped" });
      // Keep every log line to check that the secret never appears.
      (async () => {
        for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
          agentLogs.push(chunk);
        }
      })().catch(() => {});
      return child;
    };
    const api = async (method: string, path: string, body?: string) => {
      const args = ["curl", "-s", "-w", "\n%{http_code}", "--unix-socket", socket, "-X", method];
      if (body) args.push("-H", "Content-Type: application/json", "-d", body);
      const result = await run([...args, `http://localhost${path}`]);
      const cut = result.stdout.lastIndexOf("\n");
      return { status: Number(result.stdout.slice(cut + 1)), body: result.stdout.slice(0, cut) };
    };
    const status = async () => JSON.parse((await api("GET", "/status")).body) as Status;
    const linkExists = async () =>
      (await agentNs.exec(["ip", "link", "show", agentIf], { check: false })).code === 0;

    agent = startAgent([
      "--endpoint",
      `http://${HUB_IP}:8443`,
      "--id",
      cred.id,
      "--secret",
      cred.secret,
    ]);

    let serverIP = "";
    await t.step(
      "the agent connects and registers; its interface has the tunnel address",
      async () => {
        await waitFor("registered", async () => {
          const s = await status();
          return s.connected && s.registered;
        }, 30_000);
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
        await waitFor(
          "ping",
          async () =>
            (await agentNs.exec(["ping", "-c", "1", "-W", "1", serverIP], { check: false }))
              .code ===
              0,
          20_000,
        );
        await waitFor("a measured peer", async () => {
          const peer = Object.values((await status()).peers)[0];
          return peer.connected && peer.rtt > 0;
        }, 20_000);
        const peer = Object.values((await status()).peers)[0];
        assert(Number.isInteger(peer.rtt) && peer.rtt > 0, `rtt ${peer.rtt}`);
        assert(Date.now() - Date.parse(peer.lastSeen) < 10_000, `lastSeen ${peer.lastSeen}`);
      },
    );

    await t.step("a hub restart: the agent reconnects and registers again on its own", async () => {
      await stopChild(hub!);
      await waitFor("the drop", async () => !(await status()).connected, 20_000);
      await startHub();
      await waitFor("re-registered", async () => {
        const s = await status();
        return s.connected && s.registered;
      }, 60_000);
      await waitFor(
        "ping after the restart",
        async () =>
          (await agentNs.exec(["ping", "-c", "1", "-W", "1", serverIP], { check: false })).code ===
            0,
        30_000,
      );
    });

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
        assertEquals((await stopChild(agent!)).code, 0);
        await waitFor("the interface to go", async () => !(await linkExists()), 10_000);
        agent = startAgent([]);
        await waitFor("registered again", async () => {
          const s = await status().catch(() => null);
          return s?.registered === true;
        }, 30_000);
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
      await waitFor("terminated", async () => (await status()).terminated, 20_000);
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
        const logs = agentLogs.join("");
        assert(logs.includes("registered with the hub"), "logs were captured");
        assert(!logs.includes(cred.secret), "the secret never reaches a log line");
      },
    );
  } finally {
    if (agent) await stopChild(agent);
    if (hub) await stopChild(hub);
    for (const ns of namespaces) await ns.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}));
