// The Olm routes over a fake backend, called through the router without a socket: what each
// route hands the backend, and how the backend's refusals become Olm's answers.
import { assertEquals } from "../_support/assert.ts";
import type { ConnectParams, OlmBackend, OlmStatus } from "../../src/api/backend.ts";
import { apiRequest } from "../../src/api/exchange.ts";
import { OLM_CONNECT_DEFAULTS, olmRoutes } from "../../src/api/olm.ts";
import { Router } from "../../src/api/router.ts";
import { DomainError } from "../../src/errors/mod.ts";

const IDLE: OlmStatus = {
  connected: false,
  registered: false,
  terminated: false,
  version: "0.0.0",
  agent: "fake",
  orgId: "",
  peers: {},
  networkSettings: { tunnelIP: "" },
};

class FakeOlmBackend implements OlmBackend {
  connected: ConnectParams | null = null;
  switchedTo: string[] = [];
  exits = 0;
  refuseSwitch: string | null = null;
  connect(params: ConnectParams): Promise<void> {
    if (this.connected) {
      return Promise.reject(new DomainError("conflict", "Already connected to a server."));
    }
    this.connected = params;
    return Promise.resolve();
  }
  status(): OlmStatus {
    return { ...IDLE, connected: this.connected !== null };
  }
  disconnect(): Promise<void> {
    if (!this.connected) return Promise.reject(new DomainError("conflict", "Not connected"));
    this.connected = null;
    return Promise.resolve();
  }
  switchOrg(orgId: string): Promise<void> {
    if (this.refuseSwitch) return Promise.reject(new Error(this.refuseSwitch));
    this.switchedTo.push(orgId);
    return Promise.resolve();
  }
  requestExit(): void {
    this.exits++;
  }
}

function post(target: string, body: unknown) {
  return apiRequest({ method: "POST", target, body: JSON.stringify(body) });
}

const CONNECT = { id: "client", secret: "s3cret", endpoint: "https://hub.example" };

Deno.test("POST /connect hands the backend the body over the defaults; a second is 409", async () => {
  const backend = new FakeOlmBackend();
  const router = new Router(olmRoutes(backend));
  const answer = await router.handle(post("/connect", { ...CONNECT, pingInterval: "1.5s" }));
  assertEquals([answer.status, answer.json], [202, { status: "connection request accepted" }]);
  assertEquals(backend.connected, {
    ...CONNECT,
    mtu: OLM_CONNECT_DEFAULTS.mtu,
    interfaceName: OLM_CONNECT_DEFAULTS.interfaceName,
    holepunch: OLM_CONNECT_DEFAULTS.holepunch,
    pingIntervalMs: 1500,
    pingTimeoutMs: OLM_CONNECT_DEFAULTS.pingTimeoutMs,
  });
  const again = await router.handle(post("/connect", CONNECT));
  assertEquals([again.status, again.text], [409, "Already connected to a server.\n"]);
  assertEquals((await router.handle(apiRequest({ method: "GET", target: "/status" }))).json, {
    ...IDLE,
    connected: true,
  });
});

Deno.test("POST /connect refuses a bad duration or endpoint before reaching the backend", async () => {
  const backend = new FakeOlmBackend();
  const router = new Router(olmRoutes(backend));
  for (const bad of [{ pingTimeout: "5" }, { pingInterval: "0s" }, { endpoint: "hub" }]) {
    const answer = await router.handle(post("/connect", { ...CONNECT, ...bad }));
    assertEquals(answer.status, 400, JSON.stringify(bad));
  }
  assertEquals(backend.connected, null);
});

Deno.test("POST /disconnect without a session is the backend's conflict: 409", async () => {
  const backend = new FakeOlmBackend();
  const router = new Router(olmRoutes(backend));
  const answer = await router.handle(post("/disconnect", {}));
  assertEquals([answer.status, answer.text], [409, "Not connected\n"]);
});

Deno.test("POST /switch-org and /exit reach the backend; a failed switch is 500", async () => {
  const backend = new FakeOlmBackend();
  const router = new Router(olmRoutes(backend));
  assertEquals((await router.handle(post("/switch-org", { org_id: "org2" }))).status, 200);
  assertEquals(backend.switchedTo, ["org2"]);
  backend.refuseSwitch = "no such org";
  const failed = await router.handle(post("/switch-org", { orgId: "org3" }));
  assertEquals([failed.status, failed.text], [500, "Org switch failed: no such org\n"]);
  assertEquals((await router.handle(post("/exit", {}))).status, 200);
  assertEquals(backend.exits, 1);
});
