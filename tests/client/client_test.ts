// BurrowClient against a real `burrow agent` on this host (no hub session is ever established:
// the fake hub refuses the secret, so no device is created): every route of both families over
// the Unix socket, the TCP base URL with its bearer token, and BurrowApiError's status and text.
import { assert, assertEquals, assertRejects } from "../_support/assert.ts";
import { stopProcess, waitFor } from "../_support/netns.ts";
import { startAgent } from "../_support/burrow.ts";
import { FakeHub } from "../_support/fake_hub.ts";
import { freePort } from "../_support/ports.ts";
import { BurrowApiError, BurrowClient } from "../../src/client/mod.ts";

const TOKEN = "client-test-token";

async function apiError(work: () => Promise<unknown>): Promise<BurrowApiError> {
  const error = await assertRejects(work, BurrowApiError);
  return error as BurrowApiError;
}

Deno.test("BurrowClient drives every route of a live agent over its socket and TCP", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bcl-" });
  const socket = `${dir}/agent.sock`;
  const port = freePort();
  const site = `${dir}/site`;
  await Deno.mkdir(site);
  const hub = await FakeHub.start({ clients: { "agent-1": "the right one" } });
  const child = startAgent(null, {
    stateDir: `${dir}/state`,
    socket,
    args: ["--http-addr", `127.0.0.1:${port}`, "--api-token", TOKEN],
  });
  const local = new BurrowClient({ socketPath: socket });
  const tcp = new BurrowClient({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN });
  try {
    await waitFor("the agent's API", async () => (await local.health()).status === "ok", 20_000);

    // Olm routes.
    assertEquals(await tcp.health(), { status: "ok" });
    const idle = await local.status();
    assertEquals(idle.connected, false);
    assertEquals(typeof idle.version, "string");
    let error = await apiError(() => local.disconnect());
    assertEquals(error.status, 409);
    assert(error.apiMessage.length > 0 && !error.apiMessage.endsWith("\n"), error.apiMessage);
    error = await apiError(() => local.connect({ id: "agent-1", secret: "", endpoint: "x" }));
    assertEquals(error.status, 400);
    assertEquals(
      error.apiMessage,
      "Missing required fields: id, secret, and endpoint must be provided",
    );
    assertEquals(
      await local.connect({ id: "agent-1", secret: "wrong", endpoint: hub.endpoint }),
      { status: "connection request accepted" },
    );
    await waitFor("the refusal", async () => (await local.status()).terminated, 20_000);
    assertEquals((await tcp.status()).error?.code, "unauthorized");
    error = await apiError(() => local.switchOrg(""));
    assertEquals([error.status, error.apiMessage], [400, "Missing required field: orgId"]);

    // Packetriot routes.
    const info = await tcp.info();
    assertEquals([info.status, info.isTunConnected], [true, false]);
    assertEquals((await local.config()).https, []);
    assertEquals(
      await local.createTraffic({ https: [{ domain: "a.example.com", webRoot: site }] }),
      {
        status: true,
        error: "",
      },
    );
    error = await apiError(() =>
      local.createTraffic({ https: [{ domain: "a.example.com", webRoot: site }] })
    );
    assertEquals(error.status, 409);
    assert(error.apiMessage.includes("a.example.com"), error.apiMessage);
    await tcp.updateTraffic({
      https: [{ domain: "a.example.com", webRoot: site, redirect: true }],
    });
    const config = await tcp.config();
    assertEquals(config.https.map((r) => [r.domain, r.redirect]), [["a.example.com", true]]);
    const health = await local.servicesHealth();
    assertEquals(health.services.length, 1);
    assertEquals(typeof health.services[0].flowID, "bigint");
    assertEquals(health.services[0].http?.domain, "a.example.com");
    // traffic/delete goes as a GET with a JSON body, over both transports.
    assertEquals((await tcp.deleteTraffic({ https: [{ domain: "a.example.com" }] })).status, true);
    error = await apiError(() => local.deleteTraffic({ https: [{ domain: "a.example.com" }] }));
    assertEquals(error.status, 404);
    assertEquals((await local.config()).https, []);
    assertEquals(await local.listPorts(), []);
    error = await apiError(() => local.releasePort(22000));
    assertEquals(error.status, 404);
    error = await apiError(() => local.allocatePort());
    assert(error.status >= 400, String(error.status));
    assertEquals((await local.shutdownTunnel()).status, true);
    assertEquals((await local.startTunnel()).isTunConnected, false);
    assertEquals((await local.restartTunnel()).status, true);
    await local.shutdownTunnel();

    // The token guards TCP; a wrong one is a BurrowApiError with the API's text.
    const stranger = new BurrowClient({ baseUrl: `http://127.0.0.1:${port}`, token: "nope" });
    try {
      error = await apiError(() => stranger.info());
      assertEquals([error.status, error.apiMessage], [401, "Unauthorized"]);
      error = await apiError(() => stranger.deleteTraffic({ ports: [{ port: 1 }] }));
      assertEquals(error.status, 401);
    } finally {
      stranger.close();
    }

    assertEquals(await local.exit(), { status: "shutdown initiated" });
    assertEquals((await child.status).code, 0);
  } finally {
    local.close();
    tcp.close();
    await stopProcess(child);
    await hub.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("BurrowClient wants exactly one of baseUrl and socketPath", () => {
  for (const options of [{}, { baseUrl: "http://127.0.0.1:4100", socketPath: "/x" }]) {
    let thrown: unknown;
    try {
      new BurrowClient(options);
    } catch (error) {
      thrown = error;
    }
    assert(thrown instanceof TypeError);
  }
});
