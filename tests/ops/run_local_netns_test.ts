// `make run` twice on one machine: tools/run-local.sh started twice side by side (its files in a
// temporary BURROW_RUN_DIR) takes two instances, each with its own namespace, socket, API port
// and tunnel network; both agents connect; stopping one leaves the other working; each removes
// what it made.
import { assert, assertEquals, assertNotEquals } from "../_support/assert.ts";
import { REPO_ROOT } from "../_support/burrow.ts";
import { curlAnswer } from "../_support/curl.ts";
import { readLines } from "../_support/lines.ts";
import { netnsTest, run, spawn, stopProcess } from "../_support/netns.ts";

interface Instance {
  child: Deno.ChildProcess;
  number: number;
  socket: string;
  apiUrl: string;
  tunnel: string;
}

/** Starts the script and reads its banner: instance number, socket, API URL, tunnel address. */
async function startRun(dir: string): Promise<Instance> {
  const child = spawn([`${REPO_ROOT}tools/run-local.sh`], {
    env: { BURROW_RUN_DIR: dir },
    stdout: "piped",
  });
  const found: Partial<Instance> = { child };
  // One iterator throughout: leaving a for-await would cancel the pipe, and the script's later
  // output would then kill it with SIGPIPE.
  const lines = readLines(child.stdout)[Symbol.asyncIterator]();
  const deadline = setTimeout(() => stopProcess(child), 60_000);
  try {
    while (true) {
      const next = await lines.next();
      if (next.done) break;
      const line = next.value;
      const instance = /burrow is running \(instance (\d)\)/.exec(line);
      if (instance) found.number = Number(instance[1]);
      const socket = /agent API socket : (\S+)/.exec(line);
      if (socket) found.socket = socket[1];
      const api = /agent API URL {4}: (\S+)/.exec(line);
      if (api) found.apiUrl = api[1];
      const tunnel = /tunnel address {3}: (\S+)/.exec(line);
      if (tunnel) found.tunnel = tunnel[1];
      if (line.startsWith("Press Ctrl-C")) break;
    }
  } finally {
    clearTimeout(deadline);
  }
  (async () => {
    while (!(await lines.next()).done) { /* drain */ }
  })().catch(() => {});
  assert(found.number !== undefined && found.socket && found.apiUrl, "the banner was printed");
  return found as Instance;
}

async function namespaceNames(): Promise<string[]> {
  const listed = (await run(["ip", "netns", "list"])).stdout;
  return listed.split("\n").map((line) => line.split(" ")[0]).filter(Boolean);
}

Deno.test(netnsTest("make run twice: two instances side by side, each cleaned up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bops-run-" });
  const runs: Instance[] = [];
  try {
    runs.push(await startRun(dir));
    runs.push(await startRun(dir));
    const [a, b] = runs;
    assertNotEquals(a.number, b.number);
    assertNotEquals(a.socket, b.socket);
    assertNotEquals(a.apiUrl, b.apiUrl);
    assertNotEquals(a.tunnel.split(".").slice(0, 3), b.tunnel.split(".").slice(0, 3));
    for (const instance of runs) {
      const status = await curlAnswer(null, [
        "--unix-socket",
        instance.socket,
        "http://localhost/status",
      ]);
      assertEquals(status.json<{ connected: boolean }>().connected, true, instance.socket);
      const info = await curlAnswer(null, [`${instance.apiUrl}/api/client/v1.0/info`]);
      assertEquals(info.json<{ isTunConnected: boolean }>().isTunConnected, true);
    }

    // Stopping the first leaves the second running, and removes the first's namespace.
    assertEquals((await stopProcess(a.child, 15_000)).code, 0);
    runs.shift();
    const namespaces = await namespaceNames();
    assert(!namespaces.includes(`burrow-run-hub${a.number}`), namespaces.join(" "));
    assert(namespaces.includes(`burrow-run-hub${b.number}`), namespaces.join(" "));
    const still = await curlAnswer(null, ["--unix-socket", b.socket, "http://localhost/status"]);
    assertEquals(still.json<{ connected: boolean }>().connected, true);

    assertEquals((await stopProcess(b.child, 15_000)).code, 0);
    runs.shift();
    assert(!(await namespaceNames()).includes(`burrow-run-hub${b.number}`));
    const links = (await run(["ip", "-o", "link"])).stdout;
    assert(!links.includes(`brun${a.number}-host`) && !links.includes(`brun${b.number}-host`));
  } finally {
    for (const instance of runs) await stopProcess(instance.child, 15_000);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(`${dir}-1`, { recursive: true }).catch(() => {});
  }
}));
