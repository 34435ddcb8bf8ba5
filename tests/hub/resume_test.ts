// Issue #16's correctness: a reconnect presents the last login's resumption credential and
// skips the slow hash; the credential works once, expires, dies with its client; a wrong
// secret still pays for scrypt; the slow queue is fair across addresses and refuses with a
// wait; the agent's login() keeps and presents its credential and honours Retry-After.
import { assert, assertEquals, assertNotEquals, assertRejects } from "../_support/assert.ts";
import { login, startTestHub } from "./_hub_support.ts";
import { addressKey, LoginBusy, LoginGate } from "../../src/hub/login_gate.ts";
import {
  forgetResumeTokens,
  login as agentLogin,
  LoginRefused,
  retryDelayMs,
} from "../../src/session/login.ts";

type TestHub = Awaited<ReturnType<typeof startTestHub>>;

async function withHub(
  fn: (ctx: { base: string; hub: TestHub; slowHashes: () => number }) => Promise<void>,
  overrides: Parameters<typeof startTestHub>[2] = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "bhb-resume-" });
  const hub = await startTestHub(dir, new Map(), overrides);
  // Counts the slow path: every scrypt verification goes through verifyClient.
  let slow = 0;
  const verify = hub.store.verifyClient.bind(hub.store);
  hub.store.verifyClient = (id, secret) => {
    slow++;
    return verify(id, secret);
  };
  try {
    await fn({ base: `http://127.0.0.1:${hub.controlPort}`, hub, slowHashes: () => slow });
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const resumeOf = (answer: { json: Record<string, unknown> }) =>
  (answer.json.data as { resumeToken: string }).resumeToken;

Deno.test("resume: a credential logs in without the slow hash, once, and is rotated", async () => {
  await withHub(async ({ base, hub, slowHashes }) => {
    const { id, secret } = await hub.store.addClient();
    const first = await login(base, { olmId: id, secret });
    assertEquals(first.status, 200);
    assertEquals(slowHashes(), 1);
    const credential = resumeOf(first);
    assert(typeof credential === "string" && credential.length >= 43);
    // The fast path: the secret is not even looked at.
    const resumed = await login(base, {
      olmId: id,
      secret: "not-checked",
      resumeToken: credential,
    });
    assertEquals(resumed.status, 200);
    assertEquals(slowHashes(), 1, "no scrypt for a resumption");
    const next = resumeOf(resumed);
    assertNotEquals(next, credential, "rotated on use");
    // Single use: the old credential sends the login down the slow path, where it fails.
    const replay = await login(base, { olmId: id, secret: "wrong", resumeToken: credential });
    assertEquals(replay.status, 401);
    assertEquals(slowHashes(), 2, "a stale credential costs the slow hash");
    // The rotated one still works; a bogus one with the right secret falls back and succeeds.
    assertEquals((await login(base, { olmId: id, secret: "x", resumeToken: next })).status, 200);
    const fallback = await login(base, { olmId: id, secret, resumeToken: "A".repeat(43) });
    assertEquals(fallback.status, 200);
    assertEquals(slowHashes(), 3);
    // Another client's credential does not open this one.
    const other = await hub.store.addClient();
    const theirs = resumeOf(await login(base, { olmId: other.id, secret: other.secret }));
    assertEquals((await login(base, { olmId: id, secret: "x", resumeToken: theirs })).status, 401);
  });
});

Deno.test("resume: a removed client cannot resume; an expired credential is refused", async () => {
  await withHub(async ({ base, hub }) => {
    const a = await hub.store.addClient(), b = await hub.store.addClient();
    const credentialA = resumeOf(await login(base, { olmId: a.id, secret: a.secret }));
    const credentialB = resumeOf(await login(base, { olmId: b.id, secret: b.secret }));
    hub.store.removeClient(a.id);
    assertEquals(
      (await login(base, { olmId: a.id, secret: "x", resumeToken: credentialA })).status,
      401,
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    assertEquals(
      (await login(base, { olmId: b.id, secret: "x", resumeToken: credentialB })).status,
      401,
    );
  }, { resumeTtlMs: 300 });
});

Deno.test("the agent's login keeps its credential per hub and presents it on the next login", async () => {
  await withHub(async ({ base, hub, slowHashes }) => {
    forgetResumeTokens();
    const { id, secret } = await hub.store.addClient();
    const first = await agentLogin(base, { olmId: id, secret });
    assert(first.token.length > 20);
    assertEquals(slowHashes(), 1);
    for (let i = 0; i < 3; i++) await agentLogin(base, { olmId: id, secret });
    assertEquals(slowHashes(), 1, "reconnects resume");
    forgetResumeTokens();
    await agentLogin(base, { olmId: id, secret });
    assertEquals(slowHashes(), 2);
    // A wrong secret is never carried by the credential earned with the right one.
    await assertRejects(() => agentLogin(base, { olmId: id, secret: "wrong" }), LoginRefused);
    assertEquals(slowHashes(), 3);
  });
});

Deno.test("the agent's login waits out 429 (Retry-After plus jitter) and then logs in", async () => {
  let calls = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    calls++;
    if (calls === 1) {
      return Response.json({
        success: false,
        error: true,
        message: "busy",
        status: 429,
        data: null,
      }, {
        status: 429,
        headers: { "retry-after": "1" },
      });
    }
    return Response.json({
      success: true,
      error: false,
      message: "ok",
      status: 200,
      data: { token: "t0k3n", serverVersion: "x", exitNodes: [] },
    });
  });
  try {
    const result = await agentLogin(`http://127.0.0.1:${server.addr.port}`, {
      olmId: "a",
      secret: "s",
    });
    assertEquals(result.token, "t0k3n");
    assertEquals(calls, 2);
    assertEquals(retryDelayMs("2", () => 0), 2000);
    assertEquals(retryDelayMs("2", () => 0.5), 2500);
    assertEquals(retryDelayMs(null, () => 0), 1000);
    assertEquals(retryDelayMs("junk", () => 0), 1000);
  } finally {
    await server.shutdown();
  }
});

Deno.test("the slow-login queue: round-robin across addresses, a cap per address, 429 past the queue", async () => {
  const order: string[] = [];
  const gates: (() => void)[] = [];
  const gate = new LoginGate({ workers: 1, maxQueued: 5, perAddress: 3, costMs: 100 });
  const job = (label: string) => () =>
    new Promise<string>((resolve) => {
      order.push(label);
      gates.push(() => resolve(label));
    });
  const runs = [
    gate.run("10.0.0.1", job("a1")),
    gate.run("10.0.0.1", job("a2")),
    gate.run("10.0.0.1", job("a3")),
    gate.run("10.0.0.2", job("b1")),
    gate.run("10.0.0.3", job("c1")),
  ];
  // The attacker's fourth is refused at once, with a wait in whole seconds.
  const refused = await gate.run("10.0.0.1", job("a4")).catch((error) => error);
  assert(refused instanceof LoginBusy);
  assert(refused.retryAfterS >= 1);
  // The queue is full (5 waiting behind one running): a sixth address is refused too.
  runs.push(gate.run("10.0.0.4", job("d0")));
  const full = await gate.run("10.0.0.5", job("e1")).catch((error) => error);
  assert(full instanceof LoginBusy, "a full queue refuses");
  while (gates.length || order.length < 6) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    gates.shift()?.();
  }
  await Promise.all(runs);
  // a1 ran at once; then one job per address in turn, the busy address's second job last.
  assertEquals(order, ["a1", "a2", "b1", "c1", "d0", "a3"]);
  assertEquals(addressKey("2001:db8:1:2:3:4:5:6"), "2001:0db8:0001:0002::/64");
  assertEquals(addressKey("2001:db8:1:2::9"), "2001:0db8:0001:0002::/64");
  assertEquals(addressKey("::ffff:10.0.0.1"), "10.0.0.1");
});
