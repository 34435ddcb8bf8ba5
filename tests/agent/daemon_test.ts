// `burrow agent` as a process on this host (no device is ever created here: the hub refuses
// or is absent): /exit answers, removes the socket and ends the process; a refused login shows
// in /status; state files and modes; the secret never reaches stderr nor /status.
import { assert, assertEquals, assertRejects } from "../_support/assert.ts";
import { run, stopProcess, waitFor } from "../_support/netns.ts";
import { FakeHub } from "../_support/fake_hub.ts";

const BURROW = new URL("../../burrow", import.meta.url).pathname;
const SECRET = "agent-secret-never-printed-42";

async function status(socket: string): Promise<Record<string, unknown>> {
  const result = await run(["curl", "-s", "--unix-socket", socket, "http://localhost/status"]);
  return JSON.parse(result.stdout);
}

Deno.test("burrow agent: /exit answers, then the process exits and removes its socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-d-" });
  const socket = `${dir}/run/agent.sock`;
  const child = new Deno.Command(BURROW, {
    args: [
      "agent",
      "--state-dir",
      `${dir}/state`,
      "--socket-path",
      socket,
      "--socket-mode",
      "0600",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    await waitFor("the socket", async () => (await Deno.lstat(socket)).isSocket === true, 20_000);
    assertEquals((await Deno.lstat(socket)).mode! & 0o777, 0o600);
    const exit = await run([
      "curl",
      "-s",
      "--unix-socket",
      socket,
      "-X",
      "POST",
      "http://localhost/exit",
    ]);
    assertEquals(JSON.parse(exit.stdout), { status: "shutdown initiated" });
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
  const child = new Deno.Command(BURROW, {
    args: [
      "agent",
      "--state-dir",
      `${dir}/state`,
      "--socket-path",
      socket,
      "--endpoint",
      hub.endpoint,
      "--id",
      "agent-1",
      "--log-level",
      "debug",
    ],
    env: { OLM_SECRET: SECRET },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    await waitFor("terminated", async () => (await status(socket)).terminated === true, 20_000);
    const s = await status(socket);
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
