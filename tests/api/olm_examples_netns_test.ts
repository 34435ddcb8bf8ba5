// olm-api.txt's curl examples run verbatim against a real `burrow agent` process in a network
// namespace this test creates (prefix bag): `example.com` resolves to the namespace's loopback
// (through /etc/netns/NAME/hosts, which `ip netns exec` mounts over /etc/hosts), where the fake
// hub serves TLS with a certificate from a test CA the agent trusts via DENO_CERT. No packet
// leaves the namespace.
import { assert, assertEquals } from "../_support/assert.ts";
import { DENO, REPO_ROOT, startAgent } from "../_support/burrow.ts";
import { makeCaSignedCertificate } from "../_support/certificates.ts";
import { curlAnswer, type HttpAnswer } from "../_support/curl.ts";
import {
  Netns,
  netnsTest,
  stopProcess,
  uniqueSuffix,
  waitFor,
  waitForTcp,
} from "../_support/netns.ts";

const CONNECT = `{
    "id": "31frd0uzbjvp721",
    "secret": "h51mmlknrvrwv8s4r1i210azhumt6isgbpyavxodibx1k2d6",
    "endpoint": "https://example.com"
  }`;
const CONNECT_WITH_OPTIONS = `{
    "id": "31frd0uzbjvp721",
    "secret": "h51mmlknrvrwv8s4r1i210azhumt6isgbpyavxodibx1k2d6",
    "endpoint": "https://example.com",
    "mtu": 1400,
    "holepunch": true,
    "pingInterval": "5s"
  }`;

Deno.test(netnsTest("olm-api.txt's curl examples answer as documented, verbatim", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-ex-" });
  const ns = await Netns.create("bag-ex");
  const etc = `/etc/netns/${ns.name}`;
  const children: Deno.ChildProcess[] = [];
  try {
    await Deno.mkdir(etc, { recursive: true });
    await Deno.writeTextFile(`${etc}/hosts`, "127.0.0.1 localhost example.com\n::1 localhost\n");
    const tls = await makeCaSignedCertificate(dir, ["example.com"]);
    children.push(ns.spawn([
      DENO,
      "run",
      "-A",
      `${REPO_ROOT}tests/_support/fake_hub.ts`,
      "443",
      tls.certFile,
      tls.keyFile,
    ]));
    await waitForTcp(ns, "127.0.0.1", 443, 30_000);
    const socket = `${dir}/olm/olm.sock`;
    const agent = startAgent(ns, {
      stateDir: `${dir}/state`,
      socket,
      interface: `bag${uniqueSuffix()}`,
      args: ["--enable-api", "--http-addr", ":9452"],
      env: { DENO_CERT: tls.caFile },
    });
    children.push(agent);
    await waitForTcp(ns, "127.0.0.1", 9452, 30_000);

    const curl = (...args: string[]) => curlAnswer(ns, args);
    // The examples' JSON POST: `curl -X POST URL -H "Content-Type: application/json" -d BODY`.
    const postJson = (url: string, body: string) =>
      curl("-X", "POST", url, "-H", "Content-Type: application/json", "-d", body);
    const expect = async (
      answer: Promise<HttpAnswer>,
      status: number,
      json: unknown,
    ) => {
      const a = await answer;
      assertEquals([a.status, a.json()], [status, json]);
    };

    // Health check
    await expect(curl("http://localhost:9452/health"), 200, { status: "ok" });
    // Connect to a peer
    await expect(
      postJson("http://localhost:9452/connect", CONNECT),
      202,
      { status: "connection request accepted" },
    );
    // Check connection status (TCP, then the Unix socket example)
    await waitFor("registered", async () => {
      const s = (await curl("http://localhost:9452/status")).json() as Record<string, unknown>;
      return s.connected === true && s.registered === true;
    }, 30_000);
    const status = (await curl("--unix-socket", socket, "http://localhost/status")).json() as {
      peers: Record<string, Record<string, unknown>>;
      networkSettings: { tunnelIP: string };
    };
    assertEquals(status.networkSettings.tunnelIP, "100.89.128.3/20");
    assertEquals(status.peers["10"].siteId, 10);
    assert(!JSON.stringify(status).includes("h51mmlknrvrwv8s4r1i210azhumt6isgbpyavxodibx1k2d6"));
    // Connect with additional options while connected: 409, as documented.
    const conflict = await postJson("http://localhost:9452/connect", CONNECT_WITH_OPTIONS);
    assertEquals(conflict.status, 409);
    // Switch organization
    await expect(
      postJson("http://localhost:9452/switch-org", '{"orgId": "org_456"}'),
      200,
      { status: "org switch request accepted" },
    );
    // Disconnect from server
    await expect(curl("-X", "POST", "http://localhost:9452/disconnect"), 200, {
      status: "disconnect initiated",
    });
    // Connect with additional options
    await expect(
      postJson("http://localhost:9452/connect", CONNECT_WITH_OPTIONS),
      202,
      { status: "connection request accepted" },
    );
    await waitFor("registered with options", async () => {
      const s = (await curl("http://localhost:9452/status")).json() as Record<string, unknown>;
      return s.registered === true;
    }, 30_000);
    // Using Unix socket: disconnect
    await expect(curl("--unix-socket", socket, "-X", "POST", "http://localhost/disconnect"), 200, {
      status: "disconnect initiated",
    });
    // Shutdown
    await expect(curl("-X", "POST", "http://localhost:9452/exit"), 200, {
      status: "shutdown initiated",
    });
    assertEquals((await agent.status).code, 0);
    assertEquals(await Deno.lstat(socket).then(() => true, () => false), false);
  } finally {
    for (const child of children) await stopProcess(child);
    await ns.destroy();
    await Deno.remove(etc, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}));
