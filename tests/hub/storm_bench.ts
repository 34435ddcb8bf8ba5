// Issue #16's load generator: a reconnect storm against a real `burrow hub` (burrow's own
// WireGuard device, one peer per agent). For N = 100 and 1,000:
//   1. provision N clients with `burrow hub client add --count N`;
//   2. start the hub; N control-plane agents at once log in for the first time (the slow
//      hash, queued fairly, 429 + Retry-After honoured), open the WebSocket, register a fresh
//      WireGuard key and wait for olm/wg/connect: the reference, what every reconnect cost
//      before resumption;
//   3. the hub's RSS with N agents registered and idle;
//   4. restart the hub; the N agents reconnect at once, resuming with their credential, each
//      registering a fresh key: the storm;
//   5. connected/failed, p50/p99/max time to olm/wg/connect, the hub's RSS after the storm,
//      and the ratio of the reference's p99 to the storm's.
// Run alone: .tools/bin/deno run --allow-all --unstable-net tests/hub/storm_bench.ts [N...]

import { requireBenchSetup } from "../_support/bench.ts";
import { addHubClients, BURROW } from "../_support/burrow.ts";
import { stopProcess, uniqueSuffix, waitForTcp } from "../_support/netns.ts";
import { generatePrivateKey, keyToBase64, publicKeyOf } from "../../src/curve25519/mod.ts";
import { type Frame, MSG, WS_PATH } from "../../src/protocol/mod.ts";
import { login, retryDelayMs, webSocketUrl } from "../../src/session/login.ts";

await requireBenchSetup("storm_bench", []);

const SIZES = Deno.args.length ? Deno.args.map(Number) : [100, 1000];
const CONTROL_PORT = 18443 + Math.floor(Math.random() * 1000);
const ENDPOINT = `http://127.0.0.1:${CONTROL_PORT}`;
const STORM_BUDGET_MS = 400_000;

interface Credentials {
  id: string;
  secret: string;
}

interface Outcome {
  ms: number | null;
  socket: WebSocket | null;
}

function startHub(stateDir: string, suffix: string, thirdOctet: number): Deno.ChildProcess {
  return new Deno.Command(BURROW, {
    args: [
      "hub",
      "--state-dir",
      stateDir,
      "--listen",
      `127.0.0.1:${CONTROL_PORT}`,
      "--public-host",
      "127.0.0.1",
      "--interface",
      `bst${suffix}`.slice(0, 15),
      "--wg-port",
      String(40000 + Math.floor(Math.random() * 20000)),
      "--tunnel-cidr",
      `100.71.${thirdOctet}.0/20`,
      "--port-range",
      "39000-39009",
      "--http-port",
      "0",
      "--https-port",
      "0",
      "--log-level",
      "warn",
      // The N agents stand for N routers at N addresses; here they share 127.0.0.1, so the
      // per-address limits (there against one attacker's address) are raised.
      "--logins-per-address",
      "100000",
      "--openings-per-address",
      "100000",
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

/** One agent: log in, open the WebSocket, register a fresh key, wait for olm/wg/connect. */
async function connectAgent(client: Credentials, publicKey: string, start: number) {
  const deadline = start + STORM_BUDGET_MS;
  while (performance.now() < deadline) {
    try {
      const { token } = await login(
        ENDPOINT,
        { olmId: client.id, secret: client.secret },
        Math.max(1000, deadline - performance.now()),
      );
      const socket = await openAndRegister(webSocketUrl(ENDPOINT, WS_PATH, token), publicKey);
      return { ms: performance.now() - start, socket };
    } catch {
      // A refused opening (429), a reset: try again like the agent's reconnect loop does.
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs("1")));
    }
  }
  return { ms: null, socket: null };
}

function openAndRegister(url: string, publicKey: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error("no olm/wg/connect"));
    }, 60_000);
    socket.onopen = () =>
      socket.send(JSON.stringify({
        type: MSG.register,
        data: {
          publicKey,
          relay: false,
          olmVersion: "bench",
          olmAgent: "bench",
          orgId: "",
          chainId: "b",
        },
      }));
    socket.onmessage = (event) => {
      const frame = JSON.parse(String(event.data)) as Frame;
      if (frame.type !== MSG.connect) return;
      clearTimeout(timer);
      socket.onmessage = null;
      socket.onclose = null;
      resolve(socket);
    };
    socket.onerror = () => {
      clearTimeout(timer);
      reject(new Error("WebSocket failed"));
    };
    socket.onclose = () => {
      clearTimeout(timer);
      reject(new Error("closed before olm/wg/connect"));
    };
  });
}

/** All agents at once; the figures of that round. */
async function storm(clients: Credentials[]) {
  const keys = clients.map(() => keyToBase64(publicKeyOf(generatePrivateKey())));
  const start = performance.now();
  const outcomes: Outcome[] = await Promise.all(
    clients.map((client, i) => connectAgent(client, keys[i], start)),
  );
  const times = outcomes.flatMap((o) => o.ms === null ? [] : [o.ms]).sort((a, b) => a - b);
  const pick = (q: number) =>
    times.length ? times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)] : NaN;
  return {
    connected: times.length,
    failed: outcomes.length - times.length,
    p50: pick(0.5),
    p99: pick(0.99),
    max: times.at(-1) ?? NaN,
    sockets: outcomes.flatMap((o) => o.socket ? [o.socket] : []),
  };
}

function closeAll(sockets: WebSocket[]) {
  for (const socket of sockets) {
    socket.onclose = null;
    socket.onerror = null;
    try {
      socket.close();
    } catch { /* gone */ }
  }
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

for (const n of SIZES) {
  const stateDir = await Deno.makeTempDir({ prefix: "bhb-storm-" });
  const suffix = uniqueSuffix();
  const octet = 16 * Math.floor(Math.random() * 16);
  let hub: Deno.ChildProcess | null = null;
  let sockets: WebSocket[] = [];
  try {
    // 1. Provisioning.
    const t = performance.now();
    const clients = await addHubClients(stateDir, n, "storm");
    console.log(`N=${n}: provisioned ${clients.length} clients in ${s(performance.now() - t)}`);
    // 2. Reference: first logins, every one on the slow hash.
    hub = startHub(stateDir, suffix, octet);
    await waitForTcp(null, "127.0.0.1", CONTROL_PORT, 60_000);
    const idleRss = await rssMiB(hub.pid);
    const first = await storm(clients);
    sockets = first.sockets;
    console.log(
      `N=${n} first logins (slow hash, reference): connected ${first.connected}, failed ${first.failed}, ` +
        `p50 ${s(first.p50)}, p99 ${s(first.p99)}, max ${s(first.max)}`,
    );
    // 3. Idle with N agents (past the hub's 10 s memory trim).
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    const registeredRss = await rssMiB(hub.pid);
    console.log(
      `N=${n} hub RSS: ${idleRss.toFixed(0)} MiB idle, ${
        registeredRss.toFixed(0)
      } MiB with ${first.connected} agents registered`,
    );
    // 4. Restart, then the storm of reconnects.
    closeAll(sockets);
    sockets = [];
    await stopProcess(hub, 20_000);
    hub = startHub(stateDir, suffix, octet);
    await waitForTcp(null, "127.0.0.1", CONTROL_PORT, 60_000);
    const second = await storm(clients);
    sockets = second.sockets;
    const peakRss = await rssMiB(hub.pid);
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    const afterRss = await rssMiB(hub.pid);
    await new Promise((resolve) => setTimeout(resolve, 18_000));
    const settledRss = await rssMiB(hub.pid);
    console.log(
      `N=${n} reconnect storm (resumed): connected ${second.connected}, failed ${second.failed}, ` +
        `p50 ${s(second.p50)}, p99 ${s(second.p99)}, max ${s(second.max)}`,
    );
    console.log(
      `N=${n} hub RSS right after the storm ${peakRss.toFixed(0)} MiB, idle 12 s later ` +
        `${afterRss.toFixed(0)} MiB, 30 s later ${settledRss.toFixed(0)} MiB`,
    );
    console.log(`N=${n} ratio reference p99 / storm p99: ${(first.p99 / second.p99).toFixed(1)}x`);
  } finally {
    closeAll(sockets);
    if (hub) await stopProcess(hub, 20_000);
    await Deno.remove(stateDir, { recursive: true });
  }
}
console.log(
  "before this change (issue #16): 200 agents 21 s, 500 agents 48 s (p99), RSS 808 MiB at 500",
);
