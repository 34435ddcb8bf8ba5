// The hub end to end in network namespaces the test creates: an internet client (two
// addresses), the hub (a real `burrow hub` process with a wireguard-go tunnel) and two agents
// (tests/hub/_fake_agent.ts with wireguard-go). Covers PROXY v2 over the real tunnel, Host and
// SNI routing, firewalls, an offline agent, hub restart and `client remove`.
import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { addHubClient, BURROW, type ClientCredentials, startHub } from "../_support/burrow.ts";
import {
  type Netns,
  NetnsGroup,
  netnsTest,
  run,
  stopProcess,
  uniqueSuffix,
  waitFor,
  waitForTcp,
} from "../_support/netns.ts";
import { curlAnswer } from "../_support/curl.ts";
import { makeSelfSignedCertificate } from "../_support/certificates.ts";
import { type FakeAgent, startFakeAgent } from "./_netns_hub.ts";

const HUB_PUBLIC = "10.77.1.1";
const CLIENT_ONE = "10.77.1.2", CLIENT_TWO = "10.77.1.3";

/** The whole scenario, with the hub's tunnel made by `hubDevice` (burrow or wireguard-go). */
async function endToEnd(t: Deno.TestContext, hubDevice: string): Promise<void> {
  const suffix = uniqueSuffix();
  const namespaces = new NetnsGroup();
  const stateDir = await Deno.makeTempDir({ prefix: "bhb-netns-" });
  const hubIf = `bhbh${suffix}`;
  let hub: Deno.ChildProcess | null = null;
  const agents: FakeAgent[] = [];
  try {
    const hubNs = await namespaces.create("bhb-hub");
    const client = await namespaces.createLinked("bhb-cl", hubNs, {
      addresses: [`${CLIENT_ONE}/24`, `${CLIENT_TWO}/24`],
      peerAddresses: [`${HUB_PUBLIC}/24`],
    });
    const nsA = await namespaces.createLinked("bhb-aa", hubNs, {
      addresses: ["10.77.2.2/24"],
      peerAddresses: ["10.77.2.1/24"],
      defaultRoute: true,
    });
    const nsB = await namespaces.createLinked("bhb-ab", hubNs, {
      addresses: ["10.77.3.2/24"],
      peerAddresses: ["10.77.3.1/24"],
      defaultRoute: true,
    });

    const { cert, key } = await makeSelfSignedCertificate(["a.example.com", "b.example.com"]);
    await Deno.writeTextFile(`${stateDir}/cert.pem`, cert);
    await Deno.writeTextFile(`${stateDir}/key.pem`, key);
    const hubState = `${stateDir}/hub`;
    const credA = await addHubClient(hubState, "a");
    const credB = await addHubClient(hubState, "b");
    const listed = await run([BURROW, "hub", "client", "list", "--state-dir", hubState]);
    assertEquals(JSON.parse(listed.stdout).length, 2);
    assert(!listed.stdout.includes(credA.secret), "client list never prints secrets");

    const launchHub = async () => {
      hub = await startHub(hubNs, client, {
        stateDir: hubState,
        publicHost: HUB_PUBLIC,
        wgDevice: hubDevice,
        interface: hubIf,
        portRange: "22000-22009",
        logLevel: "debug",
        stderr: "inherit",
        startTimeoutMs: 20_000,
      });
    };
    await launchHub();

    const startAgent = (ns: Netns, credentials: ClientCredentials, name: string) => {
      const agent = startFakeAgent(ns, {
        hubHost: HUB_PUBLIC,
        credentials,
        interface: `bhb${name}${suffix}`,
        name,
        certFile: `${stateDir}/cert.pem`,
        keyFile: `${stateDir}/key.pem`,
      });
      agents.push(agent);
      return agent;
    };
    const agentA = startAgent(nsA, credA, "A");
    const regA = await agentA.next((e) => e.event === "registered", 30_000);
    const agentB = startAgent(nsB, credB, "B");
    const regB = await agentB.next((e) => e.event === "registered", 30_000);
    assertEquals(regA.tunnelIP, "100.89.128.2/20");
    assertEquals(regB.tunnelIP, "100.89.128.3/20");

    const allocated = await agentA.request("burrow/ports/allocate");
    assertEquals(allocated.type, "burrow/ports/allocated");
    const port = allocated.data.port as number;
    assertEquals(port, 22000);
    await agentA.send({ cmd: "echo", port });
    await agentA.next((e) => e.event === "listening");
    assertEquals(
      (await agentA.request("burrow/rules/sync", {
        https: [{ domain: "a.example.com", destination: "127.0.0.1", port: 8080 }],
        ports: [{
          port,
          destination: "127.0.0.1",
          dstPort: 22,
          firewall: [{ action: "drop", network: `${CLIENT_TWO}/32` }],
        }],
      })).type,
      "burrow/rules/applied",
    );
    // Agent B's site admits only the second client address.
    const siteB = {
      domain: "b.example.com",
      destination: "127.0.0.1",
      port: 8080,
      firewall: [{ action: "allow", network: `${CLIENT_TWO}/32` }],
    };
    assertEquals(
      (await agentB.request("burrow/rules/sync", { https: [siteB] })).type,
      "burrow/rules/applied",
    );

    const tcp = (source: string, payload: string) =>
      client.exec(
        ["socat", "-t", "2", "-T", "5", "-", `TCP:${HUB_PUBLIC}:${port},bind=${source}`],
        {
          check: false,
          stdin: payload,
        },
      );
    const curl = (args: string[]) =>
      client.exec(["curl", "-sS", "--max-time", "5", ...args], { check: false });
    const httpStatus = async (args: string[]) =>
      (await curlAnswer(client, ["--max-time", "5", "-o", "/dev/null", ...args])).status;
    const http = `http://${HUB_PUBLIC}/`;

    await t.step("a TCP port reaches the agent, which sees the client's real address", async () => {
      const result = await tcp(CLIENT_ONE, "ping through the tunnel");
      assertStringIncludes(result.stdout, `src=${CLIENT_ONE}:`);
      assertStringIncludes(result.stdout, "ping through the tunnel");
      const blocked = await tcp(CLIENT_TWO, "should not pass");
      assertEquals(blocked.stdout, "", "the drop rule blocks only its network");
    });

    await t.step(
      "HTTP by Host and TLS by SNI reach the right agent; firewall allow admits only its network",
      async () => {
        const a = await curl(["-H", "Host: a.example.com", http]);
        assertEquals(a.stdout, `agent=A host=a.example.com src=${CLIENT_ONE}\n`);
        const b = await curl(["--interface", CLIENT_TWO, "-H", "Host: b.example.com", http]);
        assertEquals(b.stdout, `agent=B host=b.example.com src=${CLIENT_TWO}\n`);
        const bDenied = await httpStatus([
          "-H",
          "Host: b.example.com",
          http,
        ]);
        assertEquals(bDenied, 403);
        const unknown = await httpStatus([
          "-H",
          "Host: nobody.example.com",
          http,
        ]);
        assertEquals(unknown, 404);
        const tlsA = await curl([
          "-k",
          "--resolve",
          `a.example.com:443:${HUB_PUBLIC}`,
          "https://a.example.com/",
        ]);
        assertEquals(tlsA.stdout, `agent=A tls src=${CLIENT_ONE}\n`);
        const tlsB = await curl([
          "-k",
          "--interface",
          CLIENT_TWO,
          "--resolve",
          `b.example.com:443:${HUB_PUBLIC}`,
          "https://b.example.com/",
        ]);
        assertEquals(tlsB.stdout, `agent=B tls src=${CLIENT_TWO}\n`);
      },
    );

    await t.step("an agent cannot claim another agent's domain", async () => {
      const refused = await agentB.request("burrow/rules/sync", {
        https: [{ domain: "a.example.com", destination: "127.0.0.1", port: 8080 }],
      });
      assertEquals(refused.type, "burrow/error");
      assertEquals(refused.data.code, "domain_taken");
      const a = await curl(["-H", "Host: a.example.com", http]);
      assertStringIncludes(a.stdout, "agent=A");
    });

    await t.step(
      "port maps reach another tunnel's port and outside TCP/UDP destinations",
      async () => {
        const echoTcp = client.spawn([
          "socat",
          `TCP-LISTEN:7000,bind=${CLIENT_ONE},fork,reuseaddr`,
          "EXEC:cat",
        ]);
        const echoUdp = client.spawn([
          "socat",
          `UDP-RECVFROM:7001,bind=${CLIENT_ONE},fork`,
          "EXEC:cat",
        ]);
        try {
          await waitForTcp(client, CLIENT_ONE, 7000);
          const maps = [
            { port: 15001, destination: "", dstPort: port, transport: "tcp" },
            { port: 15002, destination: CLIENT_ONE, dstPort: 7000, transport: "tcp" },
            { port: 15003, destination: CLIENT_ONE, dstPort: 7001, transport: "udp" },
            { port: 15004, destination: "100.89.128.2", dstPort: 80, transport: "tcp" },
          ];
          assertEquals(
            (await agentB.request("burrow/rules/sync", { https: [siteB], portmaps: maps })).type,
            "burrow/rules/applied",
          );
          const exchange = async (map: (typeof maps)[number], payload: string) => {
            await agentB.send({ cmd: "portmap", ...map, payload });
            return await agentB.next((e) => e.event === "portmap");
          };
          const tunnel = await exchange(maps[0], "via the hub");
          assertEquals(tunnel.ok, true, JSON.stringify(tunnel));
          assertStringIncludes(
            tunnel.output as string,
            "src=100.89.128.3:",
            "agent A sees agent B",
          );
          assertStringIncludes(tunnel.output as string, "via the hub");
          const outsideTcp = await exchange(maps[1], "outside tcp");
          assertEquals(outsideTcp.output, "outside tcp");
          const outsideUdp = await exchange(maps[2], "outside udp");
          assertEquals(outsideUdp.output, "outside udp");
          const isolated = await exchange(maps[3], "x");
          assertEquals(isolated.ok, false);
          assertStringIncludes(isolated.error as string, "not allowed");
          const unlisted = await exchange({ ...maps[1], dstPort: 7999 }, "x");
          assertEquals(unlisted.ok, false);
          assertStringIncludes(unlisted.error as string, "no such port map");
        } finally {
          await stopProcess(echoTcp);
          await stopProcess(echoUdp);
        }
      },
    );

    await t.step(
      "an agent cannot reach another agent's tunnel address through the hub",
      async () => {
        // Both agents accept and route the whole tunnel network: only the hub stands between.
        for (const agent of [agentA, agentB]) {
          await agent.send({ cmd: "widen", cidr: "100.89.128.0/20" });
          await agent.next((e) => e.event === "widened");
        }
        // Someone turns routing on for the whole hub host: the hub turns it off again on its
        // tunnel interface (checked every 2 s). With forwarding on, B would reach A.
        await hubNs.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        await waitFor(
          "the hub to turn forwarding off on its tunnel interface",
          async () => {
            const value = await hubNs.exec(["sysctl", "-n", `net/ipv4/conf/${hubIf}/forwarding`]);
            return value.stdout.trim() === "0";
          },
          10_000,
          200,
        );
        const direct = await nsB.exec(
          ["timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/100.89.128.2/80 && echo open"],
          { check: false },
        );
        assert(direct.code !== 0, `agent B reached agent A: ${direct.stdout}`);
        const hubReached = await nsB.exec(
          ["bash", "-c", `exec 3<>/dev/tcp/100.89.128.1/4747 && echo open`],
          { check: false },
        );
        assertEquals(
          hubReached.stdout.trim(),
          "open",
          "the hub itself is reachable (control check)",
        );
      },
    );

    await t.step("the hub answers the RTT probe on serverPort+1 through the tunnel", async () => {
      await agentA.send({ cmd: "probe" });
      const probe = await agentA.next((e) => e.event === "probe");
      assertEquals(probe.reply, [0xde, 0xad, 0xbe, 0xef, 2, 1, 2, 3, 4, 5, 6, 7, 8]);
    });

    await t.step({
      name: "the WireGuard socket answers PANGOLIN_TEST_REQ (burrow's device only)",
      ignore: hubDevice !== "burrow",
      fn: async () => {
        const reply = await client.exec([
          "bash",
          "-c",
          `printf 'PANGOLIN_TEST_REQ12345678' | socat -t 2 -T 2 - UDP:${HUB_PUBLIC}:51820`,
        ], { check: false });
        assertEquals(reply.stdout, "PANGOLIN_TEST_RSP12345678");
      },
    });

    await t.step("an offline agent gets 502 within a second", async () => {
      const links = await nsB.exec(["ip", "-o", "link", "show", "type", "veth"]);
      const veth = links.stdout.split(":")[1].trim().split("@")[0];
      await nsB.exec(["ip", "link", "set", veth, "down"]);
      // Wait for the established WireGuard session to matter no more: packets now vanish.
      const started = Date.now();
      const offline = await httpStatus([
        "--interface",
        CLIENT_TWO,
        "-H",
        "Host: b.example.com",
        http,
      ]);
      const elapsed = Date.now() - started;
      assertEquals(offline, 502);
      assert(elapsed < 1500, `502 after ${elapsed} ms`);
      await nsB.exec(["ip", "link", "set", veth, "up"]);
      await nsB.exec(["ip", "route", "replace", "default", "via", "10.77.3.1"]);
    });

    await t.step(
      "a hub restart keeps ports, domains and addresses; traffic flows again",
      async () => {
        await stopProcess(hub!);
        hub = null;
        await launchHub();
        const again = await agentA.next((e) => e.event === "registered", 30_000);
        assertEquals(again.tunnelIP, "100.89.128.2/20", "same tunnel address");
        let result = { stdout: "" };
        for (let i = 0; i < 40 && !result.stdout.includes("again"); i++) {
          result = await tcp(CLIENT_ONE, "again");
          if (!result.stdout.includes("again")) await new Promise((r) => setTimeout(r, 250));
        }
        assertStringIncludes(result.stdout, `src=${CLIENT_ONE}:`);
        assertStringIncludes(result.stdout, "again");
        const a = await curl(["-H", "Host: a.example.com", http]);
        assertEquals(a.stdout, `agent=A host=a.example.com src=${CLIENT_ONE}\n`);
        const list = await agentA.request("burrow/ports/list");
        assertEquals(list.data.ports, [port]);
      },
    );

    await t.step(
      "client remove ends the agent's session and frees its port for another agent",
      async () => {
        await run([BURROW, "hub", "client", "remove", "--state-dir", hubState, credA.id]);
        const terminate = await agentA.next((e) =>
          e.event === "frame" && (e.frame as { type: string }).type === "olm/terminate"
        );
        assert(terminate);
        const taken = await agentB.request("burrow/ports/allocate");
        assertEquals(taken.data.port, port, "the freed port goes to agent B");
        const unknown = await httpStatus([
          "-H",
          "Host: a.example.com",
          http,
        ]);
        assertEquals(unknown, 404, "the domain is released");
        const gone = await run([
          BURROW,
          "hub",
          "client",
          "remove",
          "--state-dir",
          hubState,
          credA.id,
        ], {
          check: false,
        });
        assertEquals(gone.code, 1);
      },
    );
  } finally {
    for (const agent of agents) await agent.stop().catch(() => {});
    if (hub) await stopProcess(hub);
    await namespaces.destroy();
    await run(["ip", "link", "del", hubIf], { check: false });
    await Deno.remove(stateDir, { recursive: true });
  }
}

// burrow's own device is the product; wireguard-go is the reference the same scenario must
// also pass with (and the only one that cannot answer PANGOLIN_TEST_REQ).
for (const device of ["burrow", "wireguard-go"]) {
  Deno.test(
    netnsTest(
      `burrow hub serves two agents end to end through WireGuard (hub tunnel: ${device})`,
      (t) => endToEnd(t, device),
    ),
  );
}
