// `burrow agent` as a process on this host (no device is ever created here: the hub refuses
// or is absent): /exit answers, removes the socket and ends the process; a refused login at
// start ends the process (1), one from /connect shows in /status; state files and modes; the
// secret never reaches stderr nor /status; a second agent never takes a live socket over.
import { assert, assertEquals, assertRejects } from "../_support/assert.ts";
import { stopProcess, waitFor } from "../_support/netns.ts";
import { agentStatus, startAgent, unixSocketApi, waitForAgentStatus } from "../_support/burrow.ts";
import { FakeHub } from "../_support/fake_hub.ts";

const SECRET = "agent-secret-never-printed-42";

Deno.test("burrow agent: /exit answers, then the process exits and removes its socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-d-" });
  const socket = `${dir}/run/agent.sock`;
  const child = startAgent(null, {
    stateDir: `${dir}/state`,
    socket,
    args: ["--socket-mode", "0600"],
    stdout: "piped",
    stderr: "piped",
  });
  try {
    await waitFor("the socket", async () => (await Deno.lstat(socket)).isSocket === true, 20_000);
    assertEquals((await Deno.lstat(socket)).mode! & 0o777, 0o600);
    const exit = await unixSocketApi(socket)("POST", "/exit");
    assertEquals(exit.json(), { status: "shutdown initiated" });
    const code = await child.status;
    assertEquals(code.code, 0);
    await assertRejects(() => Deno.lstat(socket), Deno.errors.NotFound);
    assertEquals((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);
    assertEquals((await Deno.stat(`${dir}/state/identity.json`)).mode! & 0o777, 0o600);
  } finally {
    await stopProcess(child);
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Runs `burrow agent` (with `args` and `env`) beside a fake hub that refuses its secret; stops
 * both and removes the directory afterwards.
 */
async function withRefusingHub(
  args: (hub: FakeHub) => string[],
  env: Record<string, string>,
  fn: (
    ctx: { child: Deno.ChildProcess; hub: FakeHub; dir: string; socket: string },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bag-d-" });
  const hub = await FakeHub.start({ clients: { "agent-1": "the right one" } });
  const socket = `${dir}/agent.sock`;
  const child = startAgent(null, {
    stateDir: `${dir}/state`,
    socket,
    args: args(hub),
    env,
    stdout: "piped",
    stderr: "piped",
  });
  try {
    await fn({ child, hub, dir, socket });
  } finally {
    await stopProcess(child);
    await hub.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

// Issue #13 item 15: credentials given at start that the hub refuses end the process (1).
Deno.test("burrow agent: a refused secret given at start exits 1, never printed, kept 0600", async () => {
  await withRefusingHub(
    (hub) => ["--endpoint", hub.endpoint, "--id", "agent-1", "--log-level", "debug"],
    { OLM_SECRET: SECRET },
    async ({ child, hub, dir, socket }) => {
      const output = await child.output();
      assertEquals(output.code, 1, "a supervisor sees the revoked credentials");
      assertEquals(hub.logins.length, 1);
      const saved = await Deno.readTextFile(`${dir}/state/connection.json`);
      assert(saved.includes(SECRET), "the secret is kept in the state directory");
      assertEquals((await Deno.stat(`${dir}/state/connection.json`)).mode! & 0o777, 0o600);
      assertEquals(JSON.parse(saved).active, false, "a refused session is not resumed");
      const logs = new TextDecoder().decode(output.stderr);
      assert(logs.includes("unauthorized"), "the refusal is logged");
      assert(logs.includes("the hub refused the credentials"), logs);
      assert(!logs.includes(SECRET), "the secret never reaches a log line");
      await assertRejects(() => Deno.lstat(socket), Deno.errors.NotFound);
    },
  );
});

Deno.test("burrow agent: a refused secret from /connect is terminated in /status, the process stays", async () => {
  await withRefusingHub(() => [], {}, async ({ child, hub, socket }) => {
    await waitFor("the socket", async () => (await Deno.lstat(socket)).isSocket === true, 20_000);
    const api = unixSocketApi(socket);
    const connect = await api("POST", "/connect", {
      id: "agent-1",
      secret: SECRET,
      endpoint: hub.endpoint,
    });
    assertEquals(connect.status, 202);
    await waitForAgentStatus(socket, "terminated", (s) => s.terminated === true, 20_000);
    const s = await agentStatus(socket);
    assertEquals(s.connected, false);
    assertEquals((s.error as { code: string }).code, "unauthorized");
    assert(!JSON.stringify(s).includes(SECRET));
    await new Promise((r) => setTimeout(r, 300));
    assertEquals((await api("GET", "/health")).status, 200, "still serving");
    child.kill("SIGTERM");
    const output = await child.output();
    assertEquals(output.code, 0, "SIGTERM is an orderly shutdown");
    assert(!new TextDecoder().decode(output.stderr).includes(SECRET));
  });
});

// Issue #13 item 10: a second agent on a live socket exits non-zero naming it; the first keeps
// its API.
Deno.test("burrow agent: a second agent on a live --socket-path exits 1 and leaves it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-d-" });
  const socket = `${dir}/agent.sock`;
  const first = startAgent(null, { stateDir: `${dir}/one`, socket, stderr: "null" });
  try {
    await waitFor("the socket", async () => (await Deno.lstat(socket)).isSocket === true, 20_000);
    const second = startAgent(null, {
      stateDir: `${dir}/two`,
      socket,
      stdout: "piped",
      stderr: "piped",
    });
    const output = await second.output();
    assertEquals(output.code, 1);
    const stderr = new TextDecoder().decode(output.stderr).trim();
    assert(stderr.includes(socket), stderr);
    assert(stderr.includes("another process is serving it"), stderr);
    assertEquals(stderr.split("\n").filter((line) => line.includes("ERROR")).length, 1, stderr);
    assertEquals((await unixSocketApi(socket)("GET", "/health")).status, 200);
  } finally {
    await stopProcess(first);
    await Deno.remove(dir, { recursive: true });
  }
});
