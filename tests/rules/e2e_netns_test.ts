// Traffic rules end to end: a real `burrow hub` and two `burrow agent`s, each in a namespace
// this test creates (prefix brl), plus an internet-client namespace running curl and socat.
// Covers a proxied site, an upstreamURL site, a webRoot site, rewriteHost, redirect, firewall
// by client address, a TCP forward, a TCP port map to the other agent's allocated port, a UDP
// port map, a certificate from pebble served to curl, and a restart of the agent.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import {
  type CommandResult,
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
const DENO = `${ROOT}.tools/bin/deno`;
const HUB_A = "10.79.1.1", AGENT_A = "10.79.1.2";
const HUB_B = "10.79.2.1", AGENT_B = "10.79.2.2";
const HUB_C = "10.79.3.1", CLIENT = "10.79.3.2", CLIENT_OTHER = "10.79.3.3";
const PUBLIC_PORT_RANGE = "22200-22209";

const ECHO_SERVER = `
const port = Number(Deno.args[0]);
Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
  const url = new URL(req.url);
  return Response.json({ path: url.pathname + url.search, headers: Object.fromEntries(req.headers) });
});
`;

async function stopChild(child: Deno.ChildProcess | undefined): Promise<void> {
  if (!child) return;
  try {
    child.kill("SIGTERM");
  } catch { /* exited already */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited already */ }
  }, 5000);
  await child.status;
  clearTimeout(timer);
}

/** Answers of the local API over its Unix socket. */
function apiOf(socket: string) {
  return async (method: string, path: string, body?: unknown) => {
    const args = ["curl", "-s", "-w", "\n%{http_code}", "--unix-socket", socket, "-X", method];
    if (body !== undefined) {
      args.push("-H", "Content-Type: application/json", "--data-binary", JSON.stringify(body));
    }
    const result = await run([...args, `http://localhost${path}`]);
    const cut = result.stdout.lastIndexOf("\n");
    return { status: Number(result.stdout.slice(cut + 1)), body: result.stdout.slice(0, cut) };
  };
}

async function makeCa(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const caKey = `${dir}/ca.key`, caFile = `${dir}/ca.pem`;
  const keyFile = `${dir}/acme.key`, csr = `${dir}/acme.csr`, certFile = `${dir}/acme.pem`;
  await run([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    caKey,
    "-out",
    caFile,
    "-days",
    "2",
    "-subj",
    "/CN=brl test ACME CA",
  ]);
  await run([
    "openssl",
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    csr,
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await run([
    "openssl",
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    caFile,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "2",
    "-extfile",
    `${dir}/ext.cnf`,
  ]);
  return { caFile, certFile, keyFile };
}

Deno.test(netnsTest("traffic rules end to end through burrow hub and burrow agent", async (t) => {
  const suffix = uniqueSuffix();
  const dir = await Deno.makeTempDir({ prefix: "brl-e2e-" });
  const namespaces: Netns[] = [];
  const children: Deno.ChildProcess[] = [];
  let agentA: Deno.ChildProcess | undefined;
  let hub: Deno.ChildProcess | undefined;
  const agentLog: string[] = [];
  try {
    const hubNs = await Netns.create("brl-hub");
    const agentNs = await Netns.create("brl-ag");
    const agent2Ns = await Netns.create("brl-ag2");
    const clientNs = await Netns.create("brl-cl");
    namespaces.push(hubNs, agentNs, agent2Ns, clientNs);
    await linkNamespaces(agentNs, hubNs, [`${AGENT_A}/24`], [`${HUB_A}/24`]);
    await linkNamespaces(agent2Ns, hubNs, [`${AGENT_B}/24`], [`${HUB_B}/24`]);
    await linkNamespaces(clientNs, hubNs, [`${CLIENT}/24`, `${CLIENT_OTHER}/24`], [`${HUB_C}/24`]);
    await agentNs.exec(["ip", "route", "add", "default", "via", HUB_A]);
    await agent2Ns.exec(["ip", "route", "add", "default", "via", HUB_B]);
    await clientNs.exec(["ip", "route", "add", "default", "via", HUB_C]);

    // Servers behind the agents, and a UDP echo out on the "internet".
    const echoScript = `${dir}/echo.ts`;
    await Deno.writeTextFile(echoScript, ECHO_SERVER);
    const webRoot = `${dir}/www`;
    await Deno.mkdir(webRoot);
    await Deno.writeTextFile(`${webRoot}/index.html`, "<p>static home</p>");
    const spawn = (ns: Netns, cmd: string[], env?: Record<string, string>) => {
      const child = ns.spawn(cmd, { env });
      children.push(child);
      return child;
    };
    spawn(agentNs, [DENO, "run", "-A", "--quiet", echoScript, "7080"]);
    spawn(agentNs, ["socat", "TCP-LISTEN:7000,bind=127.0.0.1,fork,reuseaddr", "EXEC:cat"]);
    spawn(agent2Ns, ["socat", "TCP-LISTEN:7000,bind=127.0.0.1,fork,reuseaddr", "EXEC:cat"]);
    spawn(clientNs, ["socat", `UDP-RECVFROM:7001,bind=${CLIENT},fork`, "EXEC:cat"]);

    // pebble (with challtestsrv as its DNS, every name -> the hub) beside agent A.
    const ca = await makeCa(dir);
    await Deno.writeTextFile(
      `${dir}/pebble.json`,
      JSON.stringify({
        pebble: {
          listenAddress: "127.0.0.1:14000",
          managementListenAddress: "127.0.0.1:15000",
          certificate: ca.certFile,
          privateKey: ca.keyFile,
          httpPort: 80,
          tlsPort: 443,
          ocspResponderURL: "",
          externalAccountBindingRequired: false,
        },
      }),
    );
    spawn(agentNs, [
      "pebble-challtestsrv",
      "-defaultIPv4",
      HUB_A,
      "-defaultIPv6",
      "",
      "-dns01",
      "127.0.0.1:8053",
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-management",
      "127.0.0.1:8055",
    ]);
    spawn(agentNs, ["pebble", "-config", `${dir}/pebble.json`, "-dnsserver", "127.0.0.1:8053"], {
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_VA_ALWAYS_VALID: "0",
      PEBBLE_WFE_NONCEREJECT: "0",
      PEBBLE_AUTHZREUSE: "0",
    });

    // The hub and its two clients.
    const hubState = `${dir}/hub`;
    const addClient = async (name: string) =>
      JSON.parse(
        (await run([BURROW, "hub", "client", "add", "--state-dir", hubState, "--name", name]))
          .stdout,
      ) as { id: string; secret: string };
    const credA = await addClient("brl-a");
    const credB = await addClient("brl-b");
    hub = hubNs.spawn([
      BURROW,
      "hub",
      "--state-dir",
      hubState,
      "--listen",
      "0.0.0.0:8443",
      "--public-host",
      HUB_A,
      "--interface",
      `brlh${suffix}`,
      "--port-range",
      PUBLIC_PORT_RANGE,
    ]);
    await waitForTcp(agentNs, HUB_A, 8443, 30_000);
    await waitForTcp(agentNs, "127.0.0.1", 14000, 30_000);

    const socketA = `${dir}/a.sock`, socketB = `${dir}/b.sock`;
    const startAgentA = () => {
      const child = agentNs.spawn([
        BURROW,
        "agent",
        "--state-dir",
        `${dir}/agent-a`,
        "--socket-path",
        socketA,
        "--interface",
        `brla${suffix}`,
        "--endpoint",
        `http://${HUB_A}:8443`,
        "--id",
        credA.id,
        "--secret",
        credA.secret,
      ], {
        stderr: "piped",
        env: {
          BURROW_ACME_DIRECTORY: "https://localhost:14000/dir",
          BURROW_ACME_CA_FILE: ca.caFile,
        },
      });
      (async () => {
        for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
          agentLog.push(chunk);
        }
      })().catch(() => {});
      return child;
    };
    agentA = startAgentA();
    spawn(agent2Ns, [
      BURROW,
      "agent",
      "--state-dir",
      `${dir}/agent-b`,
      "--socket-path",
      socketB,
      "--interface",
      `brlb${suffix}`,
      "--endpoint",
      `http://${HUB_A}:8443`,
      "--id",
      credB.id,
      "--secret",
      credB.secret,
    ]);
    const apiA = apiOf(socketA), apiB = apiOf(socketB);
    const registered = (api: ReturnType<typeof apiOf>) =>
      waitFor(
        "agent registered",
        async () => {
          const info = JSON.parse((await api("GET", "/api/client/v1.0/info")).body);
          return info.isTunConnected === true;
        },
        45_000,
        200,
      );
    await registered(apiA);
    await registered(apiB);

    const curl = (args: string[], check = true): Promise<CommandResult> =>
      clientNs.exec(["curl", "-sS", "--max-time", "10", ...args], { check });
    const resolve = (domain: string, port = 80) => ["--resolve", `${domain}:${port}:${HUB_A}`];
    const created = async (api: ReturnType<typeof apiOf>, body: unknown) => {
      const answer = await api("POST", "/api/client/v1.0/traffic/create", body);
      assertEquals(answer.status, 200, answer.body);
      assertEquals(JSON.parse(answer.body), { status: true, error: "" });
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
      const site = JSON.parse(
        (await curl([...resolve("site.brl.test"), "http://site.brl.test/hello?x=1"])).stdout,
      );
      assertEquals(site.path, "/hello?x=1");
      assertEquals(site.headers.host, "site.brl.test");
      assertEquals(site.headers["x-forwarded-for"], CLIENT);
      assertEquals(site.headers["x-forwarded-proto"], "http");
      const url = JSON.parse(
        (await curl([...resolve("url.brl.test"), "http://url.brl.test/p"])).stdout,
      );
      assertEquals(url.path, "/base/p");
      const files = await curl([...resolve("files.brl.test"), "http://files.brl.test/"]);
      assertEquals(files.stdout, "<p>static home</p>");
      const rw = JSON.parse(
        (await curl([...resolve("rw.brl.test"), "http://rw.brl.test/"])).stdout,
      );
      assertEquals(rw.headers.host, "inner.brl.test");
      assertEquals(rw.headers["x-forwarded-host"], "rw.brl.test");
      const redirect = await curl([
        ...resolve("redir.brl.test"),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "http://redir.brl.test/a?b=c",
      ]);
      assertEquals(redirect.stdout, "301 https://redir.brl.test/a?b=c");
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
      assertEquals(JSON.parse(allowed.stdout).headers["x-forwarded-for"], CLIENT_OTHER);
      const dropped = await curl([
        ...resolve("fw.brl.test"),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "http://fw.brl.test/",
      ], false);
      assert(dropped.stdout !== "200", `dropped client got ${dropped.stdout}`);
    });

    let forwardPort = 0;
    await t.step("a TCP forward reaches the agent's server", async () => {
      const allocated = JSON.parse((await apiA("GET", "/api/client/v1.0/ports/allocate")).body);
      assertEquals(allocated.status, true);
      forwardPort = allocated.port;
      await created(apiA, {
        ports: [{ port: forwardPort, destination: "127.0.0.1", dstPort: 7000 }],
      });
      await waitFor(
        "forward echoes",
        async () => {
          const echo = await clientNs.exec(
            ["socat", "-T3", "-", `TCP:${HUB_A}:${forwardPort}`],
            { stdin: "forwarded\n", check: false },
          );
          return echo.stdout === "forwarded\n";
        },
        15_000,
        300,
      );
    });

    await t.step("a TCP port map reaches the other agent's allocated port", async () => {
      const allocated = JSON.parse((await apiB("GET", "/api/client/v1.0/ports/allocate")).body);
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
      await waitFor(
        "port map echoes",
        async () => {
          const echo = await agentNs.exec(["socat", "-T3", "-", "TCP:127.0.0.1:15001"], {
            stdin: "mapped\n",
            check: false,
          });
          return echo.stdout === "mapped\n";
        },
        15_000,
        300,
      );
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
      await waitFor(
        "udp port map echoes",
        async () => {
          const echo = await agentNs.exec(["socat", "-T2", "-", "UDP:127.0.0.1:15002"], {
            stdin: "datagram\n",
            check: false,
          });
          return echo.stdout === "datagram\n";
        },
        15_000,
        300,
      );
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
        await waitFor(
          "pebble root",
          async () => {
            const root = await agentNs.exec([
              "curl",
              "-s",
              "--cacert",
              ca.caFile,
              "https://localhost:15000/roots/0",
            ], { check: false });
            if (!root.stdout.includes("BEGIN CERTIFICATE")) return false;
            await Deno.writeTextFile(rootFile, root.stdout);
            return true;
          },
          15_000,
          300,
        );
        await waitFor(
          "the site answers over TLS",
          async () => {
            const answer = await curl([
              "--cacert",
              rootFile,
              ...resolve("le.brl.test", 443),
              "https://le.brl.test/tls",
            ], false);
            return answer.code === 0 && JSON.parse(answer.stdout).path === "/tls";
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
        const seen = JSON.parse(answer.stdout);
        assertEquals(seen.headers["x-forwarded-proto"], "https");
        assertEquals(seen.headers["x-forwarded-for"], CLIENT);
      },
    );

    await t.step("restart: every rule and listener is back and the hub routes them", async () => {
      const before = (await apiA("GET", "/api/client/v1.0/config")).body;
      const portsBefore = (await apiA("GET", "/api/client/v1.0/ports/list")).body;
      await stopChild(agentA);
      agentA = startAgentA();
      await registered(apiA);
      assertEquals((await apiA("GET", "/api/client/v1.0/config")).body, before);
      assertEquals((await apiA("GET", "/api/client/v1.0/ports/list")).body, portsBefore);
      await waitFor(
        "site through the hub after restart",
        async () => {
          const site = await curl(
            [...resolve("site.brl.test"), "http://site.brl.test/again"],
            false,
          );
          return site.code === 0 && JSON.parse(site.stdout).path === "/again";
        },
        30_000,
        300,
      );
      await waitFor(
        "forward after restart",
        async () => {
          const echo = await clientNs.exec(
            ["socat", "-T3", "-", `TCP:${HUB_A}:${forwardPort}`],
            { stdin: "back\n", check: false },
          );
          return echo.stdout === "back\n";
        },
        15_000,
        300,
      );
      const mapped = await agentNs.exec(["socat", "-T3", "-", "TCP:127.0.0.1:15001"], {
        stdin: "map back\n",
        check: false,
      });
      assertEquals(mapped.stdout, "map back\n");
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
      assertStringIncludes(tls.stdout, '"path":"/"');
    });

    await t.step(
      "traffic/delete as a GET with a body takes a site and a forward away",
      async () => {
        const deleted = await run([
          "curl",
          "-s",
          "--unix-socket",
          socketA,
          "-X",
          "GET",
          "-H",
          "Content-Type: application/json",
          "--data-binary",
          JSON.stringify({ https: [{ domain: "site.brl.test" }], ports: [{ port: forwardPort }] }),
          "http://localhost/api/client/v1.0/traffic/delete",
        ]);
        assertEquals(JSON.parse(deleted.stdout), { status: true, error: "" });
        const config = JSON.parse((await apiA("GET", "/api/client/v1.0/config")).body);
        assert(!config.https.some((site: { domain: string }) => site.domain === "site.brl.test"));
        assertEquals(config.ports, []);
        const list = JSON.parse((await apiA("GET", "/api/client/v1.0/ports/list")).body);
        assertEquals(list, [{ port: forwardPort, destination: "", dstPort: 0 }]);
        await waitFor(
          "the hub stops routing the site",
          async () => {
            const site = await curl([
              ...resolve("site.brl.test"),
              "-o",
              "/dev/null",
              "-w",
              "%{http_code}",
              "http://site.brl.test/",
            ], false);
            return site.stdout !== "200";
          },
          10_000,
          200,
        );
        const echo = await clientNs.exec(
          ["socat", "-T2", "-", `TCP:${HUB_A}:${forwardPort}`],
          { stdin: "gone\n", check: false },
        );
        assertEquals(echo.stdout, "", "the cleared forward no longer relays");
      },
    );
  } catch (error) {
    console.log(agentLog.join("").slice(-4000));
    throw error;
  } finally {
    await stopChild(agentA);
    for (const child of children) await stopChild(child);
    await stopChild(hub);
    for (const ns of namespaces) await ns.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}));
