// Conformance of the Olm API (spec/olm-api.txt) over a real Unix socket and a real TCP port,
// driven by curl with the document's examples: answers, status codes and error cases.
import { assert, assertEquals, assertMatch } from "../_support/assert.ts";
import { waitFor } from "../_support/netns.ts";
import { DOC_ID, DOC_SECRET, type Fixture, withApi } from "./_fixture.ts";

const JSON_HEADER = ["-H", "Content-Type: application/json"];

function connectBody(f: Fixture, extra: Record<string, unknown> = {}): string {
  // The examples' body; only the endpoint points at the fake hub instead of example.com.
  return JSON.stringify({ id: DOC_ID, secret: DOC_SECRET, endpoint: f.hub.endpoint, ...extra });
}

/** Checks every field of the document's /status example, with its type. */
function assertStatusShape(status: Record<string, unknown>): void {
  for (const key of ["connected", "registered", "terminated"]) {
    assertEquals(typeof status[key], "boolean", key);
  }
  for (const key of ["version", "agent", "orgId"]) assertEquals(typeof status[key], "string", key);
  assertEquals(typeof status.peers, "object");
  const settings = status.networkSettings as Record<string, unknown>;
  assertEquals(typeof settings.tunnelIP, "string");
  for (
    const [id, peer] of Object.entries(status.peers as Record<string, Record<string, unknown>>)
  ) {
    assertEquals(String(peer.siteId), id);
    assertEquals(typeof peer.siteId, "number");
    assertEquals(typeof peer.name, "string");
    assertEquals(typeof peer.connected, "boolean");
    assert(Number.isInteger(peer.rtt), "rtt is an integer");
    assertMatch(String(peer.lastSeen), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    assertEquals(typeof peer.endpoint, "string");
    assertEquals(typeof peer.isRelay, "boolean");
    assertEquals(typeof peer.peerAddress, "string");
    assertEquals(typeof peer.holepunchConnected, "boolean");
  }
}

for (const via of ["unix", "tcp"] as const) {
  Deno.test(`every example of olm-api.txt answers as documented over ${via}`, async () => {
    await withApi(async (f) => {
      const health = await f.curl(via, "/health");
      assertEquals([health.status, health.json(), health.contentType], [
        200,
        { status: "ok" },
        "application/json",
      ]);

      const idle = await f.curl(via, "/status");
      assertEquals(idle.status, 200);
      assertStatusShape(idle.json() as Record<string, unknown>);

      const connect = await f.curl(via, "/connect", [
        "-X",
        "POST",
        ...JSON_HEADER,
        "-d",
        connectBody(f),
      ]);
      assertEquals([connect.status, connect.json(), connect.contentType], [
        202,
        { status: "connection request accepted" },
        "application/json",
      ]);
      await waitFor("registered", async () => {
        const s = (await f.curl(via, "/status")).json() as Record<string, unknown>;
        return s.registered === true && s.connected === true;
      });
      await waitFor("a measured peer", async () => {
        const s = (await f.curl(via, "/status")).json() as {
          peers: Record<string, { rtt: number }>;
        };
        return s.peers["10"]?.rtt > 0;
      });
      const status = (await f.curl(via, "/status")).json() as Record<string, unknown>;
      assertStatusShape(status);
      assertEquals(status.terminated, false);
      assertEquals(status.agent, "burrow");
      assertEquals((status.networkSettings as { tunnelIP: string }).tunnelIP, "100.89.128.3/20");
      const peer = (status.peers as Record<string, Record<string, unknown>>)["10"];
      assertEquals([peer.siteId, peer.name, peer.connected], [10, "Site A", true]);
      assert(Date.now() - Date.parse(String(peer.lastSeen)) < 5000, "lastSeen is recent");
      assert(!JSON.stringify(status).includes(DOC_SECRET), "no secret in /status");

      const sw = await f.curl(via, "/switch-org", [
        "-X",
        "POST",
        ...JSON_HEADER,
        "-d",
        '{"orgId": "org_456"}',
      ]);
      assertEquals([sw.status, sw.json()], [200, { status: "org switch request accepted" }]);
      await waitFor("orgId", async () => {
        const s = (await f.curl(via, "/status")).json() as Record<string, unknown>;
        return s.orgId === "org_456" && s.registered === true;
      });
      assertEquals(f.hub.logins.at(-1)?.orgId, "org_456");

      const disconnect = await f.curl(via, "/disconnect", ["-X", "POST"]);
      assertEquals([disconnect.status, disconnect.json()], [200, {
        status: "disconnect initiated",
      }]);
      assert(f.tunnels.made[0].isClosed, "the interface is gone when /disconnect answers");

      const withOptions = await f.curl(via, "/connect", [
        "-X",
        "POST",
        ...JSON_HEADER,
        "-d",
        connectBody(f, { mtu: 1400, holepunch: true, pingInterval: "5s" }),
      ]);
      assertEquals([withOptions.status, withOptions.json()], [
        202,
        { status: "connection request accepted" },
      ]);
      await waitFor("the second tunnel", () => f.tunnels.made.length === 2);
      assertEquals(f.tunnels.made[1].options.mtu, 1400);
      await waitFor("registered again", () => f.agent.status().registered);
      assertEquals(f.agent.status().peers["10"].isRelay, false, "holepunch: no relay");

      const exit = await f.curl(via, "/exit", ["-X", "POST"]);
      assertEquals([exit.status, exit.json()], [200, { status: "shutdown initiated" }]);
      await f.agent.exitRequested;
      assert(!f.logLines.join("\n").includes(DOC_SECRET), "no secret in any log line");
    }, { orgs: ["org_456"] });
  });
}

Deno.test("every route answers 405 to a wrong method, in Olm's plain text", async () => {
  await withApi(async (f) => {
    const wrong: [string, string][] = [
      ["/connect", "GET"],
      ["/status", "POST"],
      ["/disconnect", "GET"],
      ["/switch-org", "GET"],
      ["/exit", "GET"],
      ["/health", "POST"],
    ];
    for (const via of ["unix", "tcp"] as const) {
      for (const [path, method] of wrong) {
        const answer = await f.curl(via, path, ["-X", method]);
        assertEquals(
          [answer.status, answer.body],
          [405, "Method not allowed\n"],
          `${method} ${path}`,
        );
        assertMatch(answer.contentType, /^text\/plain/);
      }
    }
    assertEquals(f.agent.isActive, false);
  });
});

Deno.test("POST /connect answers 400 for bad JSON and each missing field, 409 when connected", async () => {
  await withApi(async (f) => {
    const post = (body: string) =>
      f.curl("unix", "/connect", ["-X", "POST", ...JSON_HEADER, "-d", body]);
    const bad = await post("{not json");
    assertEquals(bad.status, 400);
    assertMatch(bad.body, /^Invalid request/);
    assertEquals((await post("[1]")).status, 400);
    assertEquals((await post('{"id": 5, "secret": "x", "endpoint": "http://h"}')).status, 400);
    for (const missing of ["id", "secret", "endpoint"]) {
      const body = JSON.parse(connectBody(f));
      delete body[missing];
      const answer = await post(JSON.stringify(body));
      assertEquals(
        [answer.status, answer.body],
        [400, "Missing required fields: id, secret, and endpoint must be provided\n"],
        missing,
      );
    }
    assertEquals((await post(connectBody(f, { endpoint: "not a url" }))).status, 400);
    assertEquals((await post(connectBody(f, { pingInterval: "soon" }))).status, 400);
    assertEquals(f.agent.isActive, false, "no half-applied connect");
    assertEquals((await post(connectBody(f))).status, 202);
    const again = await post(connectBody(f));
    assertEquals(again.status, 409);
    assertMatch(again.body, /Already connected/);
    assertEquals((await f.curl("tcp", "/disconnect", ["-X", "POST"])).status, 200);
    const twice = await f.curl("tcp", "/disconnect", ["-X", "POST"]);
    assertEquals(twice.status, 409);
  });
});

Deno.test("concurrent POST /connect: exactly one 202, every other one 409", async () => {
  await withApi(async (f) => {
    const answers = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) =>
          f.curl(i % 2 ? "tcp" : "unix", "/connect", [
            "-X",
            "POST",
            ...JSON_HEADER,
            "-d",
            connectBody(f),
          ]),
      ),
    );
    const codes = answers.map((a) => a.status).sort();
    assertEquals(codes, [202, 409, 409, 409, 409, 409, 409, 409]);
    await waitFor("registered", () => f.agent.status().registered);
    assertEquals(f.tunnels.made.length, 1);
  });
});

Deno.test("POST /switch-org: 400 without orgId, org_id accepted, 500 when the switch fails", async () => {
  await withApi(async (f) => {
    const post = (body: string) =>
      f.curl("tcp", "/switch-org", ["-X", "POST", ...JSON_HEADER, "-d", body]);
    assertEquals((await post("{oops")).status, 400);
    const missing = await post("{}");
    assertEquals([missing.status, missing.body], [400, "Missing required field: orgId\n"]);
    const notConnected = await post('{"orgId": "org_456"}');
    assertEquals(notConnected.status, 500);
    assertMatch(notConnected.body, /^Org switch failed/);
    await f.curl("tcp", "/connect", ["-X", "POST", ...JSON_HEADER, "-d", connectBody(f)]);
    await waitFor("registered", () => f.agent.status().registered);
    const refused = await post('{"orgId": "org_unknown"}');
    assertEquals(refused.status, 500);
    const snake = await post('{"org_id": "org_456"}');
    assertEquals([snake.status, snake.json()], [200, { status: "org switch request accepted" }]);
    assertEquals(f.hub.logins.at(-1)?.orgId, "org_456");
  }, { orgs: ["org_456"] });
});

Deno.test("a wrong secret ends in terminated: true with the error in /status", async () => {
  await withApi(async (f) => {
    const body = connectBody(f, { secret: "wrong-secret-value" });
    assertEquals(
      (await f.curl("unix", "/connect", ["-X", "POST", ...JSON_HEADER, "-d", body])).status,
      202,
    );
    await waitFor("terminated", () => f.agent.status().terminated);
    const status = (await f.curl("unix", "/status")).json() as Record<string, unknown>;
    assertEquals(status.terminated, true);
    assertEquals(status.connected, false);
    assertEquals((status.error as { code: string }).code, "unauthorized");
    assert(!JSON.stringify(status).includes("wrong-secret-value"));
    assertEquals((await f.curl("unix", "/disconnect", ["-X", "POST"])).status, 409);
    // The process stays up for the next /connect.
    assertEquals(
      (await f.curl("unix", "/connect", ["-X", "POST", ...JSON_HEADER, "-d", connectBody(f)]))
        .status,
      202,
    );
    await waitFor("registered", () => f.agent.status().registered);
    assertEquals(f.agent.status().error, undefined);
  });
});
