// TLS to the hub (issue #14 item 8) without root: a fake hub behind the hub's own mutual-TLS
// front (src/hub/mutual_tls_front.ts), certificates made by openssl for this test. With the
// private CA and a client certificate (PEM or PKCS#12) the login and the WebSocket both get
// through; without a certificate, or with one from another CA, the hub refuses the handshake
// and the session says so in /status and in the log, naming the certificate file.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { FakeHub } from "../_support/fake_hub.ts";
import { connectLoopbackAgent } from "../_support/loopback_agent.ts";
import { makeMutualTlsFiles, startLoopbackFront } from "../_support/mutual_tls.ts";
import { waitFor } from "../_support/netns.ts";
import type { Agent } from "../../src/agent/agent.ts";
import { loadHubTls } from "../../src/session/hub_tls.ts";
import {
  acceptConnections,
  closeQuietly,
  decodeProxyV2,
  PROXY_V2_MAX_BYTES,
  readOpening,
  relay,
  writeAll,
} from "../../src/net/mod.ts";

const ID = "tls-agent", SECRET = "tls-secret-value";

/**
 * The real hub's control listener reads the front's PROXY v2 header on a Unix socket; the fake
 * hub is a plain HTTP server, so this takes the header off and passes the rest to it.
 */
function proxyHeaderShim(path: string, port: number) {
  const listener = Deno.listen({ transport: "unix", path });
  const done = (async () => {
    for await (const conn of acceptConnections(listener)) {
      (async () => {
        const read = await readOpening(conn, decodeProxyV2, PROXY_V2_MAX_BYTES);
        if (!read || read.verdict.kind !== "header") return closeQuietly(conn);
        const upstream = await Deno.connect({ hostname: "127.0.0.1", port });
        await writeAll(upstream, read.bytes.slice(read.verdict.length));
        await relay(conn, upstream);
      })().catch(() => closeQuietly(conn));
    }
  })();
  return { path, close: () => (closeQuietly(listener), done) };
}

async function withTlsHub(
  fn: (context: {
    endpoint: string;
    files: Awaited<ReturnType<typeof makeMutualTlsFiles>>;
    hub: FakeHub;
    agentWith(clientCert?: string): Promise<{ agent: Agent; logs: string[] }>;
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bag-tls-" });
  const files = await makeMutualTlsFiles(dir, ["localhost", "127.0.0.1"]);
  const hub = await FakeHub.start({ clients: { [ID]: SECRET } });
  const shim = proxyHeaderShim(`${dir}/control.sock`, hub.port);
  const front = await startLoopbackFront(files, shim.path);
  const endpoint = `https://localhost:${front.port}`;
  const agents: Agent[] = [];
  const agentWith = async (clientCert?: string) => {
    const started = await connectLoopbackAgent({
      stateDir: `${dir}/agent${agents.length}`,
      hubCaFile: files.caFile,
      connect: {
        endpoint,
        id: ID,
        secret: SECRET,
        ...(clientCert ? { tlsClientCert: clientCert } : {}),
      },
    });
    agents.push(started.agent);
    return started;
  };
  try {
    await fn({ endpoint, files, hub, agentWith });
  } finally {
    for (const agent of agents) await agent.close();
    await front.close();
    await shim.close();
    await hub.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("mutual TLS: a PEM or PKCS#12 client certificate gets login and WebSocket through", async () => {
  await withTlsHub(async ({ hub, files, agentWith }) => {
    for (const cert of [files.clientPem, files.clientP12]) {
      const before = hub.frames("olm/wg/register").length;
      const { agent, logs } = await agentWith(cert);
      await waitFor(`registered with ${cert}`, () => agent.status().registered, 15_000);
      // The registration travelled on the WebSocket, which only the TLS front reaches.
      assert(hub.frames("olm/wg/register").length > before);
      assertEquals(agent.status().error, undefined);
      // The key never reaches a log line.
      const key = await Deno.readTextFile(files.keyFile);
      assert(!logs.join("").includes(key.split("\n")[1]));
      await agent.disconnect();
    }
  });
});

Deno.test("mutual TLS: no certificate, or one from another CA, is refused and reported", async () => {
  await withTlsHub(async ({ files, agentWith }) => {
    for (const cert of [undefined, files.strangerPem]) {
      const { agent, logs } = await agentWith(cert);
      await waitFor(
        "a TLS error in the status",
        () => agent.status().error?.code === "tls",
        15_000,
      );
      const status = agent.status();
      assertEquals([status.connected, status.registered], [false, false]);
      assertStringIncludes(status.error!.message, `client certificate: ${cert ?? "none"}`);
      const line = logs.find((l) => l.includes("TLS handshake with the hub failed"));
      assert(line, logs.join(""));
      assertStringIncludes(line, cert ?? "none");
      // The certificate's contents never appear, only its path.
      if (cert) assert(!logs.join("").includes("BEGIN"), "no PEM in the log");
      await agent.disconnect();
    }
  });
});

Deno.test("an unusable certificate file is reported with its path", async () => {
  await withTlsHub(async ({ files, agentWith }) => {
    const missing = `${files.caFile}.missing`;
    const { agent, logs } = await agentWith(missing);
    await waitFor("a file error in the status", () => agent.status().error?.code === "tls_file");
    assertEquals(agent.status().error!.message, `Cannot use ${missing}: no such file`);
    assert(logs.some((l) => l.includes(missing)));
    await agent.disconnect();
  });
});

Deno.test("loadHubTls reads PEM and PKCS#12 alike and refuses a file without a key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-tlsload-" });
  try {
    const files = await makeMutualTlsFiles(dir, ["localhost"]);
    const pem = await loadHubTls({ caFile: files.caFile, clientCertFile: files.clientPem });
    const p12 = await loadHubTls({ clientCertFile: files.clientP12 });
    assertEquals(pem.cert!.trim(), p12.cert!.trim());
    assertEquals(pem.caCerts?.length, 1);
    // The same key, whatever its PEM label.
    assert(pem.key!.includes("PRIVATE KEY") && p12.key!.includes("PRIVATE KEY"));
    let refused = "";
    try {
      await loadHubTls({ clientCertFile: files.caFile });
    } catch (error) {
      refused = (error as Error).message;
    }
    assertEquals(refused, `Cannot use ${files.caFile}: no private key`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
