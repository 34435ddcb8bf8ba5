// Conformance of the Packetriot routes with spec/packetriot-client-api.txt, over a real socket
// with curl: every JSON example sent as written with the documented answers, traffic/delete as
// a GET with a body, and every refused request leaving `config` byte for byte unchanged.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { curlAnswer } from "../_support/curl.ts";
import { ApiServer } from "../../src/api/server.ts";
import { Router } from "../../src/api/router.ts";
import type { PacketriotTunnel } from "../../src/api/backend.ts";
import { packetriotRoutes } from "../../src/api/packetriot.ts";
import { DomainError } from "../../src/errors/mod.ts";
import { goArch } from "../../src/rules/mod.ts";
import { flowId } from "../../src/rules/flow_id.ts";
import { startEngine } from "../rules/_fixtures.ts";
import { SPEC_PORTMAP, SPEC_PORTS, SPEC_SITE } from "../rules/_spec_examples.ts";

class FakeSession implements PacketriotTunnel {
  connected = false;
  starts = 0;
  shutdowns = 0;
  restarts = 0;
  /** When set, start() refuses for the agent's state with this message. */
  refuseStart: string | null = null;
  isConnected() {
    return this.connected;
  }
  start() {
    if (this.refuseStart) throw new DomainError("conflict", this.refuseStart);
    this.starts++;
    const existed = this.connected;
    this.connected = true;
    return existed;
  }
  shutdown() {
    this.shutdowns++;
    this.connected = false;
  }
  restart() {
    this.restarts++;
    this.connected = true;
  }
}

async function withApi(
  fn: (
    call: (method: string, path: string, body?: string) => Promise<{ code: number; text: string }>,
    context: { session: FakeSession; fixture: Awaited<ReturnType<typeof startEngine>> },
  ) => Promise<void>,
): Promise<void> {
  const fixture = await startEngine({
    pool: [22872, 22132, 22470],
    // Loopback only: a directory that refuses, so useLetsEnc never leaves the machine.
    acme: { directoryUrl: "http://127.0.0.1:9/directory" },
  });
  const session = new FakeSession();
  const router = new Router(
    packetriotRoutes(session, fixture.engine, {
      version: "v0.14.0",
      runtimeVersion: "v0.15.0",
      arch: goArch(),
    }),
  );
  const server = await ApiServer.start({ router, tcp: { hostname: "127.0.0.1", port: 0 } });
  const call = async (method: string, path: string, body?: string) => {
    const answer = await curlAnswer(null, [
      "-X",
      method,
      "-H",
      "Content-Type: application/json",
      ...(body === undefined ? [] : ["--data-binary", body]),
      `http://127.0.0.1:${server.tcpPort}/api/client/v1.0/${path}`,
    ]);
    return { code: answer.status, text: answer.body };
  };
  try {
    await fn(call, { session, fixture });
  } finally {
    await server.stop();
    await fixture.close();
  }
}

Deno.test("info and tun/* answer as documented and follow the session", async () => {
  await withApi(async (call, { session }) => {
    const info = await call("GET", "info");
    assertEquals(info.code, 200);
    assertEquals(JSON.parse(info.text), {
      status: true,
      error: "",
      version: "v0.14.0",
      runtimeVersion: "v0.15.0",
      isUpdated: true,
      isTunConnected: false,
    });
    const start = await call("GET", "tun/start");
    assertEquals(JSON.parse(start.text), { status: true, isTunConnected: false, error: "" });
    assertEquals(JSON.parse((await call("GET", "info")).text).isTunConnected, true);
    const again = await call("GET", "tun/start");
    assertEquals(JSON.parse(again.text).isTunConnected, true, "idempotent");
    assertEquals(JSON.parse((await call("GET", "tun/shutdown")).text), {
      status: true,
      error: "",
    });
    assertEquals(session.connected, false);
    assertEquals(JSON.parse((await call("GET", "tun/restart")).text), {
      status: true,
      error: "",
    });
    assertEquals([session.starts, session.shutdowns, session.restarts], [2, 1, 1]);
    // A refusal for the agent's state is a 409 with the agent's message.
    session.refuseStart = "No connection configured: POST /connect first";
    const refused = await call("GET", "tun/start");
    assertEquals(refused.code, 409);
    assertEquals(JSON.parse(refused.text), {
      status: false,
      error: "No connection configured: POST /connect first",
    });
    const wrong = await call("POST", "info", "{}");
    assertEquals(wrong.code, 405);
    assertEquals(JSON.parse(wrong.text).status, false);
    const missing = await call("GET", "nothing-here");
    assertEquals([missing.code, JSON.parse(missing.text).status], [404, false]);
  });
});

Deno.test("the spec's examples create exactly the documented config and ports list", async () => {
  await withApi(async (call) => {
    for (const expected of [22872, 22132, 22470]) {
      const allocated = await call("GET", "ports/allocate");
      assertEquals(JSON.parse(allocated.text), {
        status: true,
        port: expected,
        message: "new port allocated",
        error: "",
      });
    }
    const examples = [
      { https: [], ports: [], portmaps: [] },
      { https: [SPEC_SITE] },
      { ports: [SPEC_PORTS[0]] },
      { ports: [SPEC_PORTS[1]] },
      { portmaps: [SPEC_PORTMAP] },
    ];
    for (const body of examples) {
      const answer = await call("POST", "traffic/create", JSON.stringify(body, null, 2));
      assertEquals([answer.code, JSON.parse(answer.text)], [200, { status: true, error: "" }]);
    }
    const config = JSON.parse((await call("GET", "config")).text);
    assertEquals(config.status, true);
    assertEquals(config.os, Deno.build.os);
    assert(typeof config.version === "string" && typeof config.arch === "string");
    assertEquals(config.https, [SPEC_SITE]);
    assertEquals(config.ports, SPEC_PORTS);
    assertEquals(config.portmaps, [SPEC_PORTMAP]);
    assertEquals(JSON.parse((await call("GET", "ports/list")).text), [
      SPEC_PORTS[0],
      { port: 22132, destination: "", dstPort: 0 },
      SPEC_PORTS[1],
    ]);
    // The update and delete templates are valid (empty) requests.
    for (const path of ["traffic/update"]) {
      const answer = await call("POST", path, '{"https": [], "ports": [], "portmaps": []}');
      assertEquals(JSON.parse(answer.text), { status: true, error: "" });
    }
    const updated = await call(
      "POST",
      "traffic/update",
      JSON.stringify({ ports: [{ ...SPEC_PORTS[0], dstPort: 2201 }] }),
    );
    assertEquals(updated.code, 200);
    assertEquals(JSON.parse((await call("GET", "config")).text).ports[0].dstPort, 2201);
    // The release example: the port goes back to the hub with its forward.
    const released = await call("POST", "ports/release", '{\n"port": 22872\n}');
    assertEquals([released.code, JSON.parse(released.text)], [200, { status: true, error: "" }]);
    assertEquals(
      JSON.parse((await call("GET", "ports/list")).text).map((p: { port: number }) => p.port),
      [22132, 22470],
    );
    assertEquals(JSON.parse((await call("GET", "config")).text).ports, [SPEC_PORTS[1]]);
  });
});

Deno.test("traffic/delete is read from a GET body (and POST, DELETE) and clears as documented", async () => {
  await withApi(async (call) => {
    for (let i = 0; i < 2; i++) await call("GET", "ports/allocate");
    await call(
      "POST",
      "traffic/create",
      JSON.stringify({
        https: [SPEC_SITE, { domain: "two.example.com", webRoot: "/tmp" }],
        ports: [SPEC_PORTS[0]],
        portmaps: [SPEC_PORTMAP],
      }),
    );
    const byGet = await call(
      "GET",
      "traffic/delete",
      JSON.stringify({ https: [{ domain: SPEC_SITE.domain }], ports: [{ port: 22872 }] }),
    );
    assertEquals([byGet.code, JSON.parse(byGet.text)], [200, { status: true, error: "" }]);
    const config = JSON.parse((await call("GET", "config")).text);
    assertEquals(config.https.map((s: { domain: string }) => s.domain), ["two.example.com"]);
    assertEquals(config.ports, []);
    assertEquals(
      JSON.parse((await call("GET", "ports/list")).text)[0],
      { port: 22872, destination: "", dstPort: 0 },
      "the port stays allocated",
    );
    const byPost = await call(
      "POST",
      "traffic/delete",
      JSON.stringify({ portmaps: [{ port: 15001 }] }),
    );
    assertEquals(byPost.code, 200);
    // The listener is closed: the port can be bound again.
    Deno.listen({ hostname: "127.0.0.1", port: 15001 }).close();
    const byDelete = await call(
      "DELETE",
      "traffic/delete",
      JSON.stringify({ https: [{ domain: "two.example.com" }] }),
    );
    assertEquals(byDelete.code, 200);
    assertEquals(JSON.parse((await call("GET", "config")).text).https, []);
    const emptyGet = await call("GET", "traffic/delete");
    assertEquals(emptyGet.code, 400);
  });
});

Deno.test("every refused request leaves config byte for byte unchanged", async () => {
  await withApi(async (call, { fixture }) => {
    await call("GET", "ports/allocate");
    await call(
      "POST",
      "traffic/create",
      JSON.stringify({ https: [{ domain: "keep.example.com", webRoot: "/tmp" }] }),
    );
    const before = (await call("GET", "config")).text;
    const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const busyPort = (busy.addr as Deno.NetAddr).port;
    const good = { domain: "new.example.com", webRoot: "/tmp" };
    const cases: [string, string, string, number, string][] = [
      [
        "POST",
        "traffic/create",
        JSON.stringify({ https: [good, { ...good, domain: "bad_domain" }] }),
        400,
        "https[1] (bad_domain)",
      ],
      [
        "POST",
        "traffic/create",
        JSON.stringify({
          https: [good],
          ports: [{ port: 22872, destination: "127.0.0.1", dstPort: 70000 }],
        }),
        400,
        "ports[0] (22872)",
      ],
      [
        "POST",
        "traffic/create",
        JSON.stringify({
          https: [{ ...good, firewall: [{ sequence: 1, action: "allow", network: "1.2.3.0/40" }] }],
        }),
        400,
        "https[0] (new.example.com)",
      ],
      [
        "POST",
        "traffic/create",
        JSON.stringify({
          https: [{ ...good, firewall: [{ sequence: 1, action: "deny", network: "1.2.3.0/24" }] }],
        }),
        400,
        "action",
      ],
      ["POST", "traffic/create", JSON.stringify({ https: [good, good] }), 400, "twice"],
      [
        "POST",
        "traffic/create",
        JSON.stringify({ https: [good, { domain: "keep.example.com", webRoot: "/tmp" }] }),
        409,
        "https[1] (keep.example.com)",
      ],
      [
        "POST",
        "traffic/create",
        JSON.stringify({
          https: [good],
          ports: [{ port: 23000, destination: "127.0.0.1", dstPort: 22 }],
        }),
        400,
        "ports[0] (23000): the port is not allocated",
      ],
      [
        "POST",
        "traffic/update",
        JSON.stringify({ https: [{ domain: "missing.example.com", webRoot: "/tmp" }] }),
        404,
        "https[0] (missing.example.com)",
      ],
      [
        "POST",
        "traffic/create",
        JSON.stringify({
          https: [good],
          portmaps: [{ port: busyPort, dstPort: 22132, transport: "tcp" }],
        }),
        409,
        `portmaps[0] (${busyPort})`,
      ],
      [
        "POST",
        "traffic/create",
        JSON.stringify({ https: [{ ...good, port: 80 }] }),
        400,
        "destination and port",
      ],
      ["POST", "traffic/create", "{not json", 400, "not valid JSON"],
      ["POST", "traffic/create", "", 400, "must be JSON"],
      [
        "GET",
        "traffic/delete",
        JSON.stringify({ https: [{ domain: "missing.example.com" }] }),
        404,
        "missing.example.com",
      ],
      ["POST", "ports/release", JSON.stringify({ port: 23000 }), 404, "23000"],
      ["POST", "ports/release", JSON.stringify({ port: "x" }), 400, "port"],
    ];
    try {
      for (const [method, path, body, code, message] of cases) {
        const answer = await call(method, path, body);
        assertEquals(answer.code, code, `${path} ${body}: ${answer.text}`);
        const parsed = JSON.parse(answer.text);
        assertEquals(parsed.status, false);
        assertStringIncludes(parsed.error, message);
        assertEquals((await call("GET", "config")).text, before, `config changed by ${body}`);
      }
    } finally {
      busy.close();
    }
    fixture.hub.unreachable = true;
    const unreachable = await call("GET", "ports/allocate");
    assertEquals([unreachable.code, JSON.parse(unreachable.text).status], [502, false]);
  });
});

Deno.test("health checks real listeners and writes 64-bit flowIDs exactly", async () => {
  await withApi(async (call) => {
    const upstream = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const upPort = (upstream.addr as Deno.NetAddr).port;
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = (closed.addr as Deno.NetAddr).port;
    closed.close();
    const root = await Deno.makeTempDir({ prefix: "brl-health-" });
    try {
      await call("GET", "ports/allocate");
      await call(
        "POST",
        "traffic/create",
        JSON.stringify({
          https: [
            { domain: "up.example.com", destination: "127.0.0.1", port: upPort },
            { domain: "down.example.com", upstreamURL: `http://127.0.0.1:${closedPort}` },
            { domain: "files.example.com", webRoot: root },
            { domain: "gone.example.com", webRoot: `${root}/missing` },
          ],
          ports: [{ port: 22872, destination: "127.0.0.1", dstPort: upPort }],
        }),
      );
      const health = await call("GET", "health");
      assertEquals(health.code, 200);
      const expected: [string, bigint, boolean][] = [
        ["up.example.com", flowId("http", "up.example.com"), true],
        ["down.example.com", flowId("http", "down.example.com"), false],
        ["files.example.com", flowId("http", "files.example.com"), true],
        ["gone.example.com", flowId("http", "gone.example.com"), false],
      ];
      // Exact integers in the text, beyond what a double holds.
      for (const [, id] of expected) assertStringIncludes(health.text, `"flowID":${id},`);
      assertStringIncludes(health.text, `"flowID":${flowId("port", 22872)},`);
      const parsed = JSON.parse(health.text);
      assertEquals(parsed.status, true);
      assertEquals(
        parsed.services.map((s: { available: boolean; http?: { domain: string } }) => [
          s.http?.domain ?? "port",
          s.available,
        ]),
        [...expected.map(([domain, , available]) => [domain, available]), ["port", true]],
      );
      assertEquals(parsed.services[4].port.port, 22872);
    } finally {
      upstream.close();
      await Deno.remove(root, { recursive: true });
    }
  });
});
