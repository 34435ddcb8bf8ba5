// Benchmark (make bench): HTTP sites through burrow hub + burrow agent against the upstream
// directly and against nginx as a plain reverse proxy, in namespaces made here (prefix brl):
// requests per second and p99 latency (wrk) for a small page and a 10 MB download, the ratios,
// and the agent's peak RSS with 100 rules and 1,000 concurrent connections.

import {
  linkNamespaces,
  Netns,
  run,
  uniqueSuffix,
  waitFor,
  waitForTcp,
} from "../_support/netns.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const BURROW = `${ROOT}burrow`;
const HUB_A = "10.79.1.1", AGENT = "10.79.1.2", HUB_C = "10.79.3.1", CLIENT = "10.79.3.2";
const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "5");
const SITE = "bench.brl.test";

const tun = await run(["test", "-c", "/dev/net/tun"], { check: false });
if (Deno.uid() !== 0 || tun.code !== 0) {
  console.log("skipping HTTP rules benchmark: needs root and /dev/net/tun");
  Deno.exit(0);
}
for (const tool of ["wrk", "nginx", "curl"]) {
  const found = await run(["bash", "-c", `command -v ${tool}`], { check: false });
  if (found.code !== 0) {
    console.log(`skipping HTTP rules benchmark: ${tool} is missing (make bench-deps)`);
    Deno.exit(0);
  }
}

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

async function stopChild(child: Deno.ChildProcess | undefined): Promise<void> {
  if (!child) return;
  try {
    child.kill("SIGTERM");
  } catch { /* exited */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, 5000);
  await child.status;
  clearTimeout(timer);
}

interface WrkResult {
  rps: number;
  p99Ms: number;
  mbPerSecond: number;
}

const suffix = uniqueSuffix();
const dir = await Deno.makeTempDir({ prefix: "brl-bench-" });
const namespaces: Netns[] = [];
const children: Deno.ChildProcess[] = [];
try {
  const hubNs = await Netns.create("brl-bhub");
  const agentNs = await Netns.create("brl-bag");
  const clientNs = await Netns.create("brl-bcl");
  namespaces.push(hubNs, agentNs, clientNs);
  await linkNamespaces(agentNs, hubNs, [`${AGENT}/24`], [`${HUB_A}/24`]);
  await linkNamespaces(clientNs, hubNs, [`${CLIENT}/24`], [`${HUB_C}/24`]);
  await agentNs.exec(["ip", "route", "add", "default", "via", HUB_A]);
  await clientNs.exec(["ip", "route", "add", "default", "via", HUB_C]);
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
      `upstream app { server ${AGENT}:8080; keepalive 64; }
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
  const cred = JSON.parse(
    (await run([BURROW, "hub", "client", "add", "--state-dir", hubState, "--name", "bench"]))
      .stdout,
  ) as { id: string; secret: string };
  children.push(hubNs.spawn([
    BURROW,
    "hub",
    "--state-dir",
    hubState,
    "--listen",
    "0.0.0.0:8443",
    "--public-host",
    HUB_A,
    "--interface",
    `brlbh${suffix}`,
    "--port-range",
    "22300-22309",
  ]));
  await waitForTcp(agentNs, HUB_A, 8443, 30_000);
  const socket = `${dir}/agent.sock`;
  const agent = agentNs.spawn([
    BURROW,
    "agent",
    "--state-dir",
    `${dir}/agent`,
    "--socket-path",
    socket,
    "--interface",
    `brlba${suffix}`,
    "--endpoint",
    `http://${HUB_A}:8443`,
    "--id",
    cred.id,
    "--secret",
    cred.secret,
    "--log-level",
    "warn",
  ]);
  children.push(agent);
  const api = async (method: string, path: string, body?: unknown) => {
    const args = ["curl", "-s", "--unix-socket", socket, "-X", method];
    if (body !== undefined) args.push("--data-binary", JSON.stringify(body));
    return (await run([...args, `http://localhost/api/client/v1.0/${path}`])).stdout;
  };
  await waitFor(
    "agent registered",
    async () => {
      return JSON.parse(await api("GET", "info")).isTunConnected === true;
    },
    45_000,
    200,
  );
  const created = JSON.parse(
    await api("POST", "traffic/create", {
      https: [{ domain: SITE, destination: "127.0.0.1", port: 8080 }],
    }),
  );
  if (!created.status) throw new Error(`site not created: ${created.error}`);
  await waitFor(
    "the site through the hub",
    async () => {
      const r = await clientNs.exec([
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        `Host: ${SITE}`,
        `http://${HUB_A}/small.html`,
      ], { check: false });
      return r.stdout === "200";
    },
    20_000,
    200,
  );
  await waitForTcp(clientNs, HUB_C, 8081, 10_000);

  const wrk = async (url: string, connections: number, host?: string): Promise<WrkResult> => {
    const result = await clientNs.exec([
      "wrk",
      `-t${Math.min(2, connections)}`,
      `-c${connections}`,
      `-d${SECONDS}s`,
      "--timeout",
      "10s",
      "--latency",
      ...(host ? ["-H", `Host: ${host}`] : []),
      url,
    ]);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(result.stdout)?.[1]);
    const p99 = /99%\s+([\d.]+)(us|ms|s)\b/.exec(result.stdout);
    const factor = { us: 0.001, ms: 1, s: 1000 }[p99?.[2] as "us" | "ms" | "s"] ?? NaN;
    const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(result.stdout);
    const unit = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 }[
      transfer?.[2] as "B" | "KB" | "MB" | "GB"
    ] ?? NaN;
    return { rps, p99Ms: Number(p99?.[1]) * factor, mbPerSecond: Number(transfer?.[1]) * unit };
  };
  const paths = {
    small: { file: "/small.html", connections: 32 },
    big: { file: "/big.bin", connections: 4 },
  };
  // The same upstream through an allocated port (a TCP forward): the transport alone, without
  // the agent's HTTP engine, to tell the two costs apart.
  const allocated = JSON.parse(await api("GET", "ports/allocate"));
  const forward = JSON.parse(
    await api("POST", "traffic/create", {
      ports: [{ port: allocated.port, destination: "127.0.0.1", dstPort: 8080 }],
    }),
  );
  if (!forward.status) throw new Error(`forward not created: ${forward.error}`);
  await waitForTcp(clientNs, HUB_A, allocated.port, 10_000);
  const results: Record<string, Record<string, WrkResult>> = {};
  for (const [name, { file, connections }] of Object.entries(paths)) {
    results[name] = {
      burrow: await wrk(`http://${HUB_A}${file}`, connections, SITE),
      forward: await wrk(`http://${HUB_A}:${allocated.port}${file}`, connections),
      direct: await wrk(`http://${AGENT}:8080${file}`, connections),
      nginx: await wrk(`http://${HUB_C}:8081${file}`, connections, SITE),
    };
  }

  // Peak RSS: 100 rules, then 1,000 concurrent connections through the hub.
  const many = Array.from({ length: 99 }, (_, i) => ({
    domain: `site${i}.brl.test`,
    destination: "127.0.0.1",
    port: 8080,
  }));
  const more = JSON.parse(await api("POST", "traffic/create", { https: many }));
  if (!more.status) throw new Error(`rules not created: ${more.error}`);
  const rssBefore = await peakRss(agent.pid);
  const load = await wrk(`http://${HUB_A}/small.html`, 1000, SITE);
  const rssAfter = await peakRss(agent.pid);

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
    `agent peak RSS: ${(rssBefore / 1024).toFixed(0)} MiB with 100 rules, ${
      (rssAfter / 1024).toFixed(0)
    } MiB after 1,000 concurrent connections (${load.rps.toFixed(0)} req/s, p99 ${
      load.p99Ms.toFixed(1)
    } ms)`,
  );
} finally {
  for (const child of children.reverse()) await stopChild(child);
  for (const ns of namespaces) await ns.destroy();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** VmHWM (peak resident set) of a process, in KiB. */
async function peakRss(pid: number): Promise<number> {
  // Deno asks for --allow-all to read /proc; make bench runs with burrow's own permissions.
  const status = (await run(["cat", `/proc/${pid}/status`])).stdout;
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
}
