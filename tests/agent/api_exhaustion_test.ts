// Issue #13 item 3: the agent's API survives descriptor exhaustion. The agent runs under a low
// descriptor limit (`prlimit --nofile=100`); this test holds more connections than that on
// the Unix socket, connects to the TCP API meanwhile (so both accept loops meet EMFILE), then
// lets go: both listeners answer again on their own.
import { assertEquals } from "../_support/assert.ts";
import { curlAnswer } from "../_support/curl.ts";
import { stopProcess, waitFor } from "../_support/netns.ts";
import { freePort } from "../_support/ports.ts";
import { BURROW, collectOutput, unixSocketApi } from "../_support/burrow.ts";

const TOKEN = "exhaustion-token-1";

/** A connection, or undefined when it takes longer than `ms` (a late one is closed at once). */
async function connectWithin(
  options: Deno.ConnectOptions | Deno.UnixConnectOptions,
  ms: number,
): Promise<Deno.Conn | undefined> {
  let late = false;
  const attempt = Deno.connect(options as Deno.ConnectOptions).then((conn) => {
    if (late) conn.close();
    return conn;
  }, () => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const conn = await Promise.race([
    attempt,
    new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms)),
  ]);
  clearTimeout(timer);
  if (!conn) late = true;
  return conn;
}

Deno.test("burrow agent: the API answers again after its descriptors ran out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-fd-" });
  const socket = `${dir}/agent.sock`;
  const port = freePort();
  const child = new Deno.Command("prlimit", {
    args: [
      "--nofile=100:100",
      BURROW,
      "agent",
      "--state-dir",
      `${dir}/state`,
      "--socket-path",
      socket,
      "--http-addr",
      `127.0.0.1:${port}`,
      "--api-token",
      TOKEN,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  collectOutput(child.stderr);
  const held: Deno.Conn[] = [];
  const tcpHealth = () =>
    curlAnswer(null, [
      "-m",
      "2",
      "-H",
      `Authorization: Bearer ${TOKEN}`,
      `http://127.0.0.1:${port}/health`,
    ]).then((a) => a.status, () => 0);
  const unixHealth = () =>
    curlAnswer(null, ["-m", "2", "--unix-socket", socket, "http://localhost/health"]).then(
      (a) => a.status,
      () => 0,
    );
  try {
    await waitFor(
      "the socket",
      async () => (await unixSocketApi(socket)("GET", "/health")).status === 200,
      20_000,
    );
    assertEquals(await tcpHealth(), 200);
    for (let i = 0; i < 160; i++) {
      const conn = await connectWithin({ transport: "unix", path: socket }, 500);
      if (!conn) break;
      held.push(conn);
    }
    for (let i = 0; i < 8; i++) {
      const conn = await connectWithin({ hostname: "127.0.0.1", port }, 500);
      if (conn) held.push(conn);
    }
    const descriptors = async () => {
      let count = 0;
      for await (const _ of Deno.readDir(`/proc/${child.pid}/fd`)) count++;
      return count;
    };
    await waitFor("the agent to run out of descriptors", async () => await descriptors() >= 99);
    for (const conn of held.splice(0)) conn.close();
    await waitFor(
      "the Unix socket to answer again",
      async () => await unixHealth() === 200,
      10_000,
    );
    await waitFor("the TCP API to answer again", async () => await tcpHealth() === 200, 10_000);
  } finally {
    for (const conn of held) conn.close();
    await stopProcess(child);
    await Deno.remove(dir, { recursive: true });
  }
});
