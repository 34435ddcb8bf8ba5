// Issue #13 item 2: idle connections to the control port exhausted the hub's descriptors
// (here under a lowered limit, `prlimit --nofile`, instead of 20,000 connections) and the hub
// died. Now it keeps its control connections under the limit (closing new ones while full),
// keeps connected agents served, and accepts again once the idle connections time out.
import { assert, assertEquals } from "../_support/assert.ts";
import { DENO, REPO_ROOT } from "../_support/burrow.ts";
import { stopProcess } from "../_support/netns.ts";
import { login, TestAgent } from "./_hub_support.ts";

const LIMIT = 200;
const HEAD_TIMEOUT_MS = 3000;

Deno.test("descriptor exhaustion on the control port: the hub survives, agents stay, it recovers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bhb-fds-" });
  const child = new Deno.Command("prlimit", {
    args: [
      `--nofile=${LIMIT}:${LIMIT}`,
      DENO,
      "run",
      "--allow-all",
      "--unstable-net",
      `${REPO_ROOT}tests/hub/_control_child.ts`,
      dir,
      String(HEAD_TIMEOUT_MS),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const exited = child.status.then((status) => status.code);
  let logs = "";
  const draining = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (logs += chunk) }),
  ).catch(() => {});
  const idle: Deno.TcpConn[] = [];
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the hub did not start");
      first += value;
    }
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
    const { port, id, secret } = JSON.parse(first);
    const base = `http://127.0.0.1:${port}`;
    const agent = await TestAgent.connect(base, id, secret);
    try {
      assertEquals((await agent.register()).frame.type, "olm/wg/connect");
      // 1. More idle connections than the hub has descriptors.
      for (let i = 0; i < LIMIT + 40; i++) {
        idle.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      }
      // Held past a tick of the hub's 2 s forwarding guard, which spawns sysctl(8).
      await new Promise((resolve) => setTimeout(resolve, 2500));
      // 2. The hub is still there and its agent still served.
      const still = await Promise.race([
        exited,
        new Promise((r) => setTimeout(() => r("alive"), 200)),
      ]);
      assertEquals(still, "alive", `the hub survived descriptor exhaustion\n${logs}`);
      agent.send({ type: "olm/ping", data: {} });
      await agent.next((f) => f.type === "pong", 5000);
      // 3. The idle connections time out; new logins get in again.
      let status = 0;
      for (let attempt = 0; attempt < 40 && status !== 200; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        status = await login(base, { olmId: id, secret }).then((a) => a.status, () => 0);
      }
      assertEquals(status, 200, "logins work again after the idle connections are dropped");
      assert(idle.length > LIMIT);
    } finally {
      await agent.close();
    }
  } finally {
    for (const conn of idle) {
      try {
        conn.close();
      } catch { /* dropped by the hub */ }
    }
    await stopProcess(child);
    await draining;
    await Deno.remove(dir, { recursive: true });
  }
});
