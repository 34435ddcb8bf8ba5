// Traffic rules end to end: a real `burrow hub` and two `burrow agent`s, each in a namespace
// this test creates (prefix brl), plus an internet-client namespace running curl and socat.
// Covers a proxied site, an upstreamURL site, a webRoot site, rewriteHost, redirect, firewall
// by client address, a TCP forward, a TCP port map to the other agent's allocated port, a UDP
// port map, a certificate from pebble served to curl, and a restart of the agent.

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_support/assert.ts";
import {
  addHubClient,
  BURROW,
  collectOutput,
  DENO,
  hubEndpoint,
  loginFlags,
  startAgent,
  startHub,
  unixSocketApi,
} from "../_support/burrow.ts";
import { curlAnswer, type HttpAnswer } from "../_support/curl.ts";
import {
  type Netns,
  NetnsGroup,
  netnsTest,
  run,
  stopProcess,
  uniqueSuffix,
  waitFor,
} from "../_support/netns.ts";
import { type Pebble, startPebble } from "./_pebble.ts";
import { concat } from "../../src/net/stream.ts";
import { encodeProxyV2 } from "../../src/net/proxy_v2.ts";
import { CLIENT, CLIENT_OTHER, createRulesTopology, HUB_A } from "./_topology.ts";

const PUBLIC_PORT_RANGE = "22200-22209";

/** What ECHO_SERVER answers: the request's path and query, and its headers. */
interface EchoAnswer {
  path: string;
  headers: Record<string, string>;
}

const ECHO_SERVER = `
const port = Number(Deno.args[0]);
Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
  const url = new URL(req.url);
  return Response.json({ path: url.pathname + url.search, headers: Object.fromEntries(req.headers) });
});
`;

/**
 * What a socat client inside `ns` gets back for `text` sent to `address` (socat's form, e.g.
 * `TCP:host:port`), once the peer has been silent for `idleSeconds`; "" when nothing came.
 */
async function socatEcho(
  ns: Netns,
  address: string,
  text: string,
  idleSeconds = 3,
): Promise<string> {
  const cmd = ["socat", `-T${idleSeconds}`, "-", address];
  return (await ns.exec(cmd, { stdin: text, check: false })).stdout;
}

/** Waits until `text` sent to `address` from `ns` comes back unchanged (15 s at most). */
function untilEchoed(
  what: string,
  ns: Netns,
  address: string,
  text: string,
  idleSeconds = 3,
): Promise<void> {
  return waitFor(
    what,
    async () => await socatEcho(ns, address, text, idleSeconds) === text,
    15_000,
    300,
  );
}

Deno.test(netnsTest("traffic rules end to end through burrow hub and burrow agent", async (t) => {
  const suffix = uniqueSuffix();
  const dir = await Deno.makeTempDir({ prefix: "brl-e2e-" });
  const namespaces = new NetnsGroup();
  const children: Deno.ChildProcess[] = [];
  let agentA: Deno.ChildProcess | undefined;
  let hub: Deno.ChildProcess | undefined;
  let pebble: Pebble | undefined;
  // One array of log chunks per run of agent A (it is restarted below).
  const agentLogs: string[][] = [];
  try {
    const { hub: hubNs, agents: [agentNs, agent2Ns], client: clientNs } = await createRulesTopology(
      namespaces,
      "brl",
      2,
    );

    // Servers behind the agents, and a UDP echo out on the "internet".
    const echoScript = `${dir}/echo.ts`;
    await Deno.writeTextFile(echoScript, ECHO_SERVER);
    const webRoot = `${dir}/www`;
    await Deno.mkdir(webRoot);
    await Deno.writeTextFile(`${webRoot}/index.html`, "<p>static home</p>");
    const spawn = (ns: Netns, cmd: string[]) => {
      const child = ns.spawn(cmd);
      children.push(child);
      return child;
    };
    spawn(agentNs, [DENO, "run", "-A", "--quiet", echoScript, "7080"]);
    spawn(agentNs, ["socat", "TCP-LISTEN:7000,bind=127.0.0.1,fork,reuseaddr", "EXEC:cat"]);
    spawn(agent2Ns, ["socat", "TCP-LISTEN:7000,bind=127.0.0.1,fork,reuseaddr", "EXEC:cat"]);
    spawn(clientNs, ["socat", `UDP-RECVFROM:7001,bind=${CLIENT},fork`, "EXEC:cat"]);

    // pebble (with challtestsrv as its DNS, every name -> the hub) beside agent A.
    const acmeServer = await startPebble(agentNs, {
      dir,
      resolveTo: HUB_A,
      httpPort: 80,
      tlsPort: 443,
    });
    pebble = acmeServer;

    // The hub and its two clients.
    const hubState = `${dir}/hub`;
    const credA = await addHubClient(hubState, "brl-a");
    const credB = await addHubClient(hubState, "brl-b");
    hub = await startHub(hubNs, agentNs, {
      stateDir: hubState,
      publicHost: HUB_A,
      interface: `brlh${suffix}`,
      portRange: PUBLIC_PORT_RANGE,
    });

    const socketA = `${dir}/a.sock`, socketB = `${dir}/b.sock`;
    const startAgentA = () => {
      const child = startAgent(agentNs, {
        stateDir: `${dir}/agent-a`,
        socket: socketA,
        interface: `brla${suffix}`,
        args: loginFlags(hubEndpoint(HUB_A), credA),
        stderr: "piped",
        env: {
          BURROW_ACME_DIRECTORY: acmeServer.directoryUrl,
          BURROW_ACME_CA_FILE: acmeServer.caFile,
        },
      });
      agentLogs.push(collectOutput(child.stderr));
      return child;
    };
    agentA = startAgentA();
    children.push(startAgent(agent2Ns, {
      stateDir: `${dir}/agent-b`,
      socket: socketB,
      interface: `brlb${suffix}`,
      args: loginFlags(hubEndpoint(HUB_A), credB),
    }));
    const apiA = unixSocketApi(socketA), apiB = unixSocketApi(socketB);
    const registered = (api: ReturnType<typeof unixSocketApi>) =>
      waitFor(
        "agent registered",
        async () => {
          const info = (await api("GET", "/api/client/v1.0/info")).json<Record<string, unknown>>();
          return info.isTunConnected === true;
        },
        45_000,
        200,
      );
    await registered(apiA);
    await registered(apiB);

    /** One request from the internet client; throws when no HTTP answer comes. */
    const curl = (args: string[]): Promise<HttpAnswer> =>
      curlAnswer(clientNs, ["--max-time", "10", ...args]);
    /** The status of one request, 0 when no HTTP answer came (e.g. a dropped connection). */
    const statusOf = (args: string[]): Promise<number> =>
      curl(args).then((answer) => answer.status, () => 0);
    const resolve = (domain: string, port = 80) => ["--resolve", `${domain}:${port}:${HUB_A}`];
    const created = async (api: ReturnType<typeof unixSocketApi>, body: unknown) => {
      const answer = await api("POST", "/api/client/v1.0/traffic/create", body);
      assertEquals(answer.status, 200, answer.body);
      assertEquals(answer.json(), { status: true, error: "" });
    };

    await t.step("HTTP sites: proxied, upstreamURL, webRoot, rewriteHost, redirect", async () => {
      await created(apiA, {
        https: [
          { domain: "site.brl.test", destination: "127.0.0.1", port: 7080 },
          { domain: "url.brl.test", upstreamURL: "http://127.0.0.1:7080/base" },
          { domain: "files.brl.test", webRoot },
          {
            domain: "rw.brl.test",
            destination: "127.0.0.1",
            port: 7080,
            rewriteHost: "inner.brl.test",
          },
          {
            domain: "redir.brl.test",
            secure: true,
            redirect: true,
            destination: "127.0.0.1",
            port: 7080,
          },
        ],
      });
      const site = (await curl([...resolve("site.brl.test"), "http://site.brl.test/hello?x=1"]))
        .json<EchoAnswer>();
      assertEquals(site.path, "/hello?x=1");
      assertEquals(site.headers.host, "site.brl.test");
      assertEquals(site.headers["x-forwarded-for"], CLIENT);
      assertEquals(site.headers["x-forwarded-proto"], "http");
      const url = (await curl([...resolve("url.brl.test"), "http://url.brl.test/p"])).json<
        EchoAnswer
      >();
      assertEquals(url.path, "/base/p");
      const files = await curl([...resolve("files.brl.test"), "http://files.brl.test/"]);
      assertEquals(files.body, "<p>static home</p>");
      const rw = (await curl([...resolve("rw.brl.test"), "http://rw.brl.test/"])).json<
        EchoAnswer
      >();
      assertEquals(rw.headers.host, "inner.brl.test");
      assertEquals(rw.headers["x-forwarded-host"], "rw.brl.test");
      // The response headers (-D -) stand in for the body, so the Location header can be read.
      const redirect = await curl([
        ...resolve("redir.brl.test"),
        "-D",
        "-",
        "-o",
        "/dev/null",
        "http://redir.brl.test/a?b=c",
      ]);
      assertEquals(redirect.status, 301);
      assertMatch(redirect.body, /^location: https:\/\/redir\.brl\.test\/a\?b=c\r?$/im);
    });

    await t.step("firewall allows and drops by client address", async () => {
      await created(apiA, {
        https: [{
          domain: "fw.brl.test",
          destination: "127.0.0.1",
          port: 7080,
          firewall: [{ sequence: 1, action: "allow", network: `${CLIENT_OTHER}/32` }],
        }],
      });
      const allowed = await curl([
        "--interface",
        CLIENT_OTHER,
        ...resolve("fw.brl.test"),
        "http://fw.brl.test/",
      ]);
      assertEquals(allowed.json<EchoAnswer>().headers["x-forwarded-for"], CLIENT_OTHER);
      const dropped = await statusOf([...resolve("fw.brl.test"), "http://fw.brl.test/"]);
      assert(dropped !== 200, `dropped client got ${dropped}`);
    });

    await t.step("TLS to a site that is not secure gets an unrecognized_name alert", async () => {
      const tls = await clientNs.exec(
        [
          "curl",
          "-sS",
          "-k",
          "--max-time",
          "5",
          ...resolve("site.brl.test", 443),
          "https://site.brl.test/",
        ],
        { check: false },
      );
      assert(tls.code !== 0);
      assertStringIncludes(tls.stderr.toLowerCase(), "unrecognized name");
    });

    await t.step("a process beside the agent cannot forge a client address", async () => {
      // It connects to the tunnel address itself (its source is then that address, not the
      // hub's) and claims the allowed client in a PROXY header: closed without an answer.
      const status = (await apiA("GET", "/status")).json<
        { networkSettings: { tunnelIP: string } }
      >();
      const tunnelIP = status.networkSettings.tunnelIP.split("/")[0];
      const forged = `${dir}/forged.bin`;
      await Deno.writeFile(
        forged,
        concat([
          encodeProxyV2({ address: CLIENT_OTHER, port: 40000 }, { address: tunnelIP, port: 80 }),
          new TextEncoder().encode("GET / HTTP/1.1\r\nHost: fw.brl.test\r\n\r\n"),
        ]),
      );
      const answer = await agentNs.exec(
        ["bash", "-c", `socat -T2 - TCP:${tunnelIP}:80 < ${forged}`],
        { check: false },
      );
      assertEquals(answer.stdout, "", "a forged PROXY header got an answer");
    });

    let forwardPort = 0;
    await t.step("a TCP forward reaches the agent's server", async () => {
      const allocated = (await apiA("GET", "/api/client/v1.0/ports/allocate")).json<
        { status: boolean; port: number }
      >();
      assertEquals(allocated.status, true);
      forwardPort = allocated.port;
      await created(apiA, {
        ports: [{ port: forwardPort, destination: "127.0.0.1", dstPort: 7000 }],
      });
      await untilEchoed("forward echoes", clientNs, `TCP:${HUB_A}:${forwardPort}`, "forwarded\n");
    });

    await t.step("a TCP port map reaches the other agent's allocated port", async () => {
      const allocated = (await apiB("GET", "/api/client/v1.0/ports/allocate")).json<
        { port: number }
      >();
      await created(apiB, {
        ports: [{ port: allocated.port, destination: "127.0.0.1", dstPort: 7000 }],
      });
      await created(apiA, {
        portmaps: [{
          port: 15001,
          dstPort: allocated.port,
          destination: "",
          transport: "tcp",
          label: "to-agent-b",
        }],
      });
      await untilEchoed("port map echoes", agentNs, "TCP:127.0.0.1:15001", "mapped\n");
    });

    await t.step("a UDP port map reaches an outside UDP service", async () => {
      await created(apiA, {
        portmaps: [{
          port: 15002,
          dstPort: 7001,
          destination: CLIENT,
          transport: "udp",
          label: "udp-echo",
        }],
      });
      await untilEchoed("udp port map echoes", agentNs, "UDP:127.0.0.1:15002", "datagram\n", 2);
    });

    await t.step(
      "a certificate issued by pebble is served to curl trusting pebble's root",
      async () => {
        await created(apiA, {
          https: [{
            domain: "le.brl.test",
            secure: true,
            useLetsEnc: true,
            destination: "127.0.0.1",
            port: 7080,
          }],
        });
        const rootFile = `${dir}/pebble-root.pem`;
        await Deno.writeTextFile(rootFile, await acmeServer.issuingRoot());
        await waitFor(
          "the site answers over TLS",
          async () => {
            const answer = await curl([
              "--cacert",
              rootFile,
              ...resolve("le.brl.test", 443),
              "https://le.brl.test/tls",
            ]);
            return answer.json<EchoAnswer>().path === "/tls";
          },
          60_000,
          500,
        );
        const answer = await curl([
          "--cacert",
          rootFile,
          ...resolve("le.brl.test", 443),
          "https://le.brl.test/tls",
        ]);
        const seen = answer.json<EchoAnswer>();
        assertEquals(seen.headers["x-forwarded-proto"], "https");
        assertEquals(seen.headers["x-forwarded-for"], CLIENT);
      },
    );

    await t.step("restart: every rule and listener is back and the hub routes them", async () => {
      const before = (await apiA("GET", "/api/client/v1.0/config")).body;
      const portsBefore = (await apiA("GET", "/api/client/v1.0/ports/list")).body;
      await stopProcess(agentA!);
      agentA = startAgentA();
      await registered(apiA);
      assertEquals((await apiA("GET", "/api/client/v1.0/config")).body, before);
      assertEquals((await apiA("GET", "/api/client/v1.0/ports/list")).body, portsBefore);
      await waitFor(
        "site through the hub after restart",
        async () => {
          const site = await curl([...resolve("site.brl.test"), "http://site.brl.test/again"]);
          return site.json<EchoAnswer>().path === "/again";
        },
        30_000,
        300,
      );
      await untilEchoed("forward after restart", clientNs, `TCP:${HUB_A}:${forwardPort}`, "back\n");
      assertEquals(await socatEcho(agentNs, "TCP:127.0.0.1:15001", "map back\n"), "map back\n");
      // The hub's own records: exactly the agent's domains and allocated ports.
      const config = JSON.parse(before);
      const hubView = JSON.parse(
        (await run([BURROW, "hub", "client", "list", "--state-dir", hubState])).stdout,
      ) as { id: string; ports: number[]; domains: string[] }[];
      const mine = hubView.find((client) => client.id === credA.id)!;
      assertEquals(
        [...mine.domains].sort(),
        config.https.map((site: { domain: string }) => site.domain).sort(),
      );
      assertEquals(
        [...mine.ports].sort(),
        JSON.parse(portsBefore).map((p: { port: number }) => p.port).sort(),
      );
      const tls = await curl([
        "--cacert",
        `${dir}/pebble-root.pem`,
        ...resolve("le.brl.test", 443),
        "https://le.brl.test/",
      ]);
      assertStringIncludes(tls.body, '"path":"/"');
    });

    await t.step(
      "traffic/delete as a GET with a body takes a site and a forward away",
      async () => {
        const deleted = await apiA("GET", "/api/client/v1.0/traffic/delete", {
          https: [{ domain: "site.brl.test" }],
          ports: [{ port: forwardPort }],
        });
        assertEquals(deleted.json(), { status: true, error: "" });
        const config = (await apiA("GET", "/api/client/v1.0/config")).json<
          { https: { domain: string }[]; ports: unknown[] }
        >();
        assert(!config.https.some((site: { domain: string }) => site.domain === "site.brl.test"));
        assertEquals(config.ports, []);
        const list = (await apiA("GET", "/api/client/v1.0/ports/list")).json();
        assertEquals(list, [{ port: forwardPort, destination: "", dstPort: 0 }]);
        await waitFor(
          "the hub stops routing the site",
          async () => {
            return await statusOf([...resolve("site.brl.test"), "http://site.brl.test/"]) !== 200;
          },
          10_000,
          200,
        );
        assertEquals(
          await socatEcho(clientNs, `TCP:${HUB_A}:${forwardPort}`, "gone\n", 2),
          "",
          "the cleared forward no longer relays",
        );
      },
    );
  } catch (error) {
    console.log(agentLogs.flat().join("").slice(-4000));
    throw error;
  } finally {
    if (agentA) await stopProcess(agentA);
    for (const child of children) await stopProcess(child);
    if (hub) await stopProcess(hub);
    await pebble?.stop();
    await namespaces.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}));
