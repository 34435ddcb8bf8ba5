// `burrow agent` as a process on this host (no device is ever created here: the hub refuses
// or is absent): /exit answers, removes the socket and ends the process; a refused login shows
// in /status; state files and modes; the secret never reaches stderr nor /status.
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

Deno.test("burrow agent: a refused secret is terminated in /status, never printed, kept 0600", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-d-" });
  const hub = await FakeHub.start({ clients: { "agent-1": "the right one" } });
  const socket = `${dir}/agent.sock`;
  const child = startAgent(null, {
    stateDir: `${dir}/state`,
    socket,
    args: ["--endpoint", hub.endpoint, "--id", "agent-1", "--log-level", "debug"],
    env: { OLM_SECRET: SECRET },
    stdout: "piped",
    stderr: "piped",
  });
  try {
    await waitForAgentStatus(socket, "terminated", (s) => s.terminated === true, 20_000);
    const s = await agentStatus(socket);
    assertEquals(s.connected, false);
    assertEquals((s.error as { code: string }).code, "unauthorized");
    assert(!JSON.stringify(s).includes(SECRET));
    assertEquals(hub.logins.length, 1);
    const saved = await Deno.readTextFile(`${dir}/state/connection.json`);
    assert(saved.includes(SECRET), "the secret is kept in the state directory");
    assertEquals((await Deno.stat(`${dir}/state/connection.json`)).mode! & 0o777, 0o600);
    assertEquals(JSON.parse(saved).active, false, "a refused session is not resumed at restart");
    child.kill("SIGTERM");
    const output = await child.output();
    assertEquals(output.code, 0, "SIGTERM is an orderly shutdown");
    const logs = new TextDecoder().decode(output.stderr);
    assert(logs.includes("unauthorized"), "the refusal is logged");
    assert(!logs.includes(SECRET), "the secret never reaches a log line");
  } finally {
    await stopProcess(child);
    await hub.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
