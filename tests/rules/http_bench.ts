// Benchmark (make bench): HTTP sites through burrow hub + burrow agent against the upstream
// directly and against nginx as a plain reverse proxy, in namespaces made here (prefix brl):
// requests per second and p99 latency (wrk) for a small page (BENCH_SMALL_ROUNDS rounds, default
// 5, the paths taking turns) and a 10 MB download, the ratios, and the agent's peak RSS with 100
// rules and 1,000 concurrent connections.

import { median, requireBenchSetup, runWrk, type WrkResult } from "../_support/bench.ts";
import {
  addHubClient,
  hubEndpoint,
  loginFlags,
  startAgent,
  startHub,
  unixSocketApi,
} from "../_support/burrow.ts";
import { curlAnswer } from "../_support/curl.ts";
import {
  NetnsGroup,
  run,
  stopProcess,
  uniqueSuffix,
  waitFor,
  waitForTcp,
} from "../_support/netns.ts";
import { AGENT_A, createRulesTopology, HUB_A, HUB_C } from "./_topology.ts";

const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "5");
// Every path is first loaded unmeasured for this long: burrow's relays are compiled by V8's
// optimizing tiers only after some thousands of requests, and without it the first path
// measured (burrow's) was scored on its cold start (about a quarter slower in alternating runs).
const WARMUP_SECONDS = Number(Deno.env.get("BENCH_WARMUP_SECONDS") ?? "2");
const SITE = "bench.brl.test";
// The small page is measured in this many rounds, each path in turn within a round, and the
// medians printed: the host's load changes within seconds, and one 5 s run per path let a
// passing spike decide the ratio. burrow and nginx, whose ratio is the target, run next to each
// other, first one and then the other in alternate rounds, so a drifting load favours neither.
const SMALL_ROUNDS = Number(Deno.env.get("BENCH_SMALL_ROUNDS") ?? "5");

await requireBenchSetup("HTTP rules benchmark", ["wrk", "nginx", "curl"]);

function nginxConfig(dir: string, name: string, server: string): string {
  return `worker_processes 1;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}.err;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/${name}-body;
  proxy_temp_path ${dir}/${name}-proxy;
  fastcgi_temp_path ${dir}/${name}-fcgi;
  uwsgi_temp_path ${dir}/${name}-uwsgi;
  scgi_temp_path ${dir}/${name}-scgi;
  ${server}
}
`;
}

const suffix = uniqueSuffix();
const dir = await Deno.makeTempDir({ prefix: "brl-bench-" });
const namespaces = new NetnsGroup();
const children: Deno.ChildProcess[] = [];
try {
  const { hub: hubNs, agents: [agentNs], client: clientNs } = await createRulesTopology(
    namespaces,
    "brl-b",
    1,
  );
  // The direct path: client -> (routed by the hub namespace) -> upstream.
  await hubNs.exec(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);

  // The upstream: nginx serving a small page and 10 MB, in the agent's namespace.
  const www = `${dir}/www`;
  await Deno.mkdir(www);
  // nginx's workers run unprivileged: the files must be readable by them.
  await Deno.chmod(dir, 0o755);
  await Deno.chmod(www, 0o755);
  await Deno.writeTextFile(`${www}/small.html`, "<p>" + "x".repeat(120) + "</p>\n");
  const big = new Uint8Array(10 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  await Deno.writeFile(`${www}/big.bin`, big);
  await Deno.writeTextFile(
    `${dir}/upstream.conf`,
    nginxConfig(dir, "upstream", `server { listen 8080; root ${www}; }`),
  );
  children.push(
    agentNs.spawn(["nginx", "-c", `${dir}/upstream.conf`, "-g", "daemon off;"], {
      stderr: "null",
    }),
  );
  // The reference: nginx as a plain reverse proxy in the hub's namespace.
  await Deno.writeTextFile(
    `${dir}/proxy.conf`,
    nginxConfig(
      dir,
      "proxy",
      `upstream app { server ${AGENT_A}:8080; keepalive 64; }
  server {
    listen ${HUB_C}:8081;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }`,
    ),
  );
  children.push(
    hubNs.spawn(["nginx", "-c", `${dir}/proxy.conf`, "-g", "daemon off;"], { stderr: "null" }),
  );

  // burrow hub and burrow agent.
  const hubState = `${dir}/hub`;
  const cred = await addHubClient(hubState, "bench");
  const hub = await startHub(hubNs, agentNs, {
    stateDir: hubState,
    publicHost: HUB_A,
    interface: `brlbh${suffix}`,
    portRange: "22300-22309",
  });
  children.push(hub);
  const socket = `${dir}/agent.sock`;
  const agent = startAgent(agentNs, {
    stateDir: `${dir}/agent`,
    socket,
    interface: `brlba${suffix}`,
    args: [...loginFlags(hubEndpoint(HUB_A), cred), "--log-level", "warn"],
  });
  children.push(agent);
  const localApi = unixSocketApi(socket);
  /** The local API's JSON answer (by default a change's `{status, error}`). */
  const api = async <T = { status: boolean; error: string }>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<T> => (await localApi(method, `/api/client/v1.0/${path}`, body)).json<T>();
  await waitFor(
    "agent registered",
    async () => {
      return (await api<{ isTunConnected: boolean }>("GET", "info")).isTunConnected === true;
    },
    45_000,
    200,
  );
  const created = await api("POST", "traffic/create", {
    https: [{ domain: SITE, destination: "127.0.0.1", port: 8080 }],
  });
  if (!created.status) throw new Error(`site not created: ${created.error}`);
  await waitFor(
    "the site through the hub",
    async () => {
      const answer = await curlAnswer(clientNs, [
        "-o",
        "/dev/null",
        "-H",
        `Host: ${SITE}`,
        `http://${HUB_A}/small.html`,
      ]);
      return answer.status === 200;
    },
    20_000,
    200,
  );
  await waitForTcp(clientNs, HUB_C, 8081, 10_000);

  const wrk = (url: string, connections: number, host?: string): Promise<WrkResult> =>
    runWrk(clientNs, url, { connections, seconds: SECONDS, host, timeoutSeconds: 10 });
  const paths = {
    small: { file: "/small.html", connections: 32 },
    big: { file: "/big.bin", connections: 4 },
  };
  // The same upstream through an allocated port (a TCP forward): the transport alone, without
  // the agent's HTTP engine, to tell the two costs apart.
  const allocated = await api<{ port: number }>("GET", "ports/allocate");
  const forward = await api("POST", "traffic/create", {
    ports: [{ port: allocated.port, destination: "127.0.0.1", dstPort: 8080 }],
  });
  if (!forward.status) throw new Error(`forward not created: ${forward.error}`);
  await waitForTcp(clientNs, HUB_A, allocated.port, 10_000);
  if (WARMUP_SECONDS > 0) {
    const warm = (url: string, host?: string) =>
      runWrk(clientNs, url, { connections: 32, seconds: WARMUP_SECONDS, host, timeoutSeconds: 10 });
    await warm(`http://${HUB_A}/small.html`, SITE);
    await warm(`http://${HUB_A}:${allocated.port}/small.html`);
    await warm(`http://${AGENT_A}:8080/small.html`);
    await warm(`http://${HUB_C}:8081/small.html`, SITE);
  }
  const results: Record<string, Record<string, WrkResult>> = {};
  const smallRatios: number[] = [];
  for (const [name, { file, connections }] of Object.entries(paths)) {
    const rounds: Record<string, WrkResult>[] = [];
    for (let round = 0; round < (name === "small" ? SMALL_ROUNDS : 1); round++) {
      const measure = {
        burrow: () => wrk(`http://${HUB_A}${file}`, connections, SITE),
        nginx: () => wrk(`http://${HUB_C}:8081${file}`, connections, SITE),
        forward: () => wrk(`http://${HUB_A}:${allocated.port}${file}`, connections),
        direct: () => wrk(`http://${AGENT_A}:8080${file}`, connections),
      };
      const order = round % 2 === 0
        ? (["burrow", "nginx", "forward", "direct"] as const)
        : (["nginx", "burrow", "direct", "forward"] as const);
      const result = {} as Record<keyof typeof measure, WrkResult>;
      for (const path of order) result[path] = await measure[path]();
      if (name === "small") smallRatios.push(result.burrow.rps / result.nginx.rps);
      rounds.push(result);
    }
    results[name] = medianRound(rounds);
  }

  // Peak RSS: 100 rules, then 1,000 concurrent connections through the hub.
  const many = Array.from({ length: 99 }, (_, i) => ({
    domain: `site${i}.brl.test`,
    destination: "127.0.0.1",
    port: 8080,
  }));
  const more = await api("POST", "traffic/create", { https: many });
  if (!more.status) throw new Error(`rules not created: ${more.error}`);
  const rssBefore = await peakRss(agent.pid);
  // The load's own peak: the kernel's high-water mark is reset first (clear_refs 5), so the
  // figure is not the earlier downloads' peak.
  for (const pid of [agent.pid, hub.pid]) {
    await run(["sh", "-c", `echo 5 > /proc/${pid}/clear_refs`]);
  }
  const rssIdle = await peakRss(agent.pid);
  const hubIdle = await peakRss(hub.pid);
  const load = await wrk(`http://${HUB_A}/small.html`, 1000, SITE);
  const rssLoad = await peakRss(agent.pid);
  const hubLoad = await peakRss(hub.pid);

  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  console.log(`HTTP rules benchmark (${SECONDS} s wrk runs; client -> hub -> WireGuard -> agent)`);
  for (const [name, r] of Object.entries(results)) {
    const label = name === "small" ? "small page (c32)" : "10 MB download (c4)";
    console.log(
      `${label.padEnd(20)} burrow ${r.burrow.rps.toFixed(0)} req/s p99 ${
        r.burrow.p99Ms.toFixed(2)
      } ms ${r.burrow.mbPerSecond.toFixed(0)} MB/s | TCP forward ${
        r.forward.rps.toFixed(0)
      } req/s p99 ${r.forward.p99Ms.toFixed(2)} ms | direct ${r.direct.rps.toFixed(0)} req/s p99 ${
        r.direct.p99Ms.toFixed(2)
      } ms ${r.direct.mbPerSecond.toFixed(0)} MB/s | nginx ${r.nginx.rps.toFixed(0)} req/s p99 ${
        r.nginx.p99Ms.toFixed(2)
      } ms ${r.nginx.mbPerSecond.toFixed(0)} MB/s`,
    );
    console.log(
      `${"  ratios".padEnd(20)} rps burrow/direct ${
        ratio(r.burrow.rps, r.direct.rps)
      } | burrow/nginx ${ratio(r.burrow.rps, r.nginx.rps)} | p99 burrow/direct ${
        ratio(r.burrow.p99Ms, r.direct.p99Ms)
      } | burrow/nginx ${ratio(r.burrow.p99Ms, r.nginx.p99Ms)}`,
    );
  }
  console.log(
    `${"  small page rounds".padEnd(20)} burrow/nginx ${
      smallRatios.map((r) => r.toFixed(2)).join(", ")
    }; median of the rounds' ratios ${
      median(smallRatios).toFixed(2)
    } (target >= 0.3; the lines above: each path's median round)`,
  );
  const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
  console.log(
    `agent RSS with 100 rules: ${mib(rssIdle)} before the load | peak ${
      mib(rssLoad)
    } during 1,000 concurrent connections (${load.rps.toFixed(0)} req/s, p99 ${
      load.p99Ms.toFixed(1)
    } ms; target <= 150 MiB) | peak of the whole run before it ${mib(rssBefore)}`,
  );
  console.log(`hub RSS: ${mib(hubIdle)} before the load | peak ${mib(hubLoad)} during it`);
} finally {
  for (const child of children.reverse()) await stopProcess(child);
  await namespaces.destroy();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** Each path's result with the median requests per second over the rounds. */
function medianRound(rounds: Record<string, WrkResult>[]): Record<string, WrkResult> {
  const out: Record<string, WrkResult> = {};
  for (const path of Object.keys(rounds[0])) {
    const sorted = rounds.map((round) => round[path]).sort((a, b) => a.rps - b.rps);
    out[path] = sorted[Math.floor(sorted.length / 2)];
  }
  return out;
}

/** VmHWM (peak resident set) of a process, in KiB. */
async function peakRss(pid: number): Promise<number> {
  // Deno asks for --allow-all to read /proc; make bench runs with burrow's own permissions.
  const status = (await run(["cat", `/proc/${pid}/status`])).stdout;
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
}
