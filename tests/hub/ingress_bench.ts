// Benchmark (make bench): the hub's ingress against OpenSSH remote forwarding and the direct
// path, in namespaces made here: client -> hub -> agent. TCP throughput (iperf3, both
// directions) and round trips (64-byte echo) through an allocated hub port, through `ssh -R`,
// and routed directly; HTTP requests per second and p99 (wrk) through hub and agent against the
// upstream directly. To tell where the forward's time goes it also measures, in the same run,
// the tunnel alone (iperf3 from the hub's namespace to the agent's tunnel address: the same two
// WireGuard devices, no relay) and the relays alone (the hub's and the agent's relay chained
// over loopback, no tunnel). BENCH_ROUNDS alternating rounds (default 3); medians printed.
// The agent's device is burrow's own (BENCH_AGENT_WG_DEVICE=wireguard-go to compare).

import { median, requireBenchSetup, runWrk } from "../_support/bench.ts";
import { addHubClient, DENO, REPO_ROOT, startHub } from "../_support/burrow.ts";
import {
  NetnsGroup,
  run,
  stopProcess,
  uniqueSuffix,
  waitFor,
  waitForTcp,
} from "../_support/netns.ts";
import { makeSelfSignedCertificate } from "../_support/certificates.ts";
import { type FakeAgent, startFakeAgent } from "./_netns_hub.ts";

const HUB_PUBLIC = "10.77.1.1", CLIENT = "10.77.1.2", HUB_SIDE = "10.77.2.1", AGENT = "10.77.2.2";
const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "5");
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? "3");
const RELAY_HUB_PORT = 24001, RELAY_AGENT_PORT = 24002;
/** The agent's WireGuard device: burrow's own, as a real agent has (wireguard-go to compare). */
const agentDevice = Deno.env.get("BENCH_AGENT_WG_DEVICE") === "wireguard-go"
  ? "wireguard-go"
  : "burrow";

await requireBenchSetup("hub ingress benchmark", [
  "iperf3",
  "wrk",
  "nginx",
  "socat",
  "/usr/sbin/sshd",
  "ssh",
  "ssh-keygen",
  "wireguard-go",
]);

const suffix = uniqueSuffix();
const namespaces = new NetnsGroup();
const children: Deno.ChildProcess[] = [];
const dir = await Deno.makeTempDir({ prefix: "bhb-bench-" });
let agent: FakeAgent | null = null;
let hub: Deno.ChildProcess | null = null;
const hubIf = `bhbh${suffix}`;

try {
  const hubNs = await namespaces.create("bhb-bhub");
  const client = await namespaces.createLinked("bhb-bcl", hubNs, {
    addresses: [`${CLIENT}/24`],
    peerAddresses: [`${HUB_PUBLIC}/24`],
  });
  const agentNs = await namespaces.createLinked("bhb-bag", hubNs, {
    addresses: [`${AGENT}/24`],
    peerAddresses: [`${HUB_SIDE}/24`],
    defaultRoute: true,
  });
  // The direct path is plain routing through the hub namespace. Forwarding is switched on
  // before the hub starts: the hub then switches it off again on its tunnel interface.
  await hubNs.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  await client.exec(["ip", "route", "add", "10.77.2.0/24", "via", HUB_PUBLIC]);

  // Upstreams in the agent namespace: iperf3, a TCP echo, nginx with a 1 KiB page.
  children.push(agentNs.spawn(["iperf3", "-s", "-p", "5201"]));
  children.push(agentNs.spawn(["socat", "TCP-LISTEN:7000,fork,reuseaddr", "EXEC:cat"]));
  await Deno.mkdir(`${dir}/www`);
  await Deno.writeTextFile(`${dir}/www/index.html`, "x".repeat(1024));
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    `user root; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err; daemon off;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${dir}/t1; proxy_temp_path ${dir}/t2;
  fastcgi_temp_path ${dir}/t3; uwsgi_temp_path ${dir}/t4; scgi_temp_path ${dir}/t5;
  server { listen 8080; root ${dir}/www; } }
`,
  );
  children.push(agentNs.spawn(["nginx", "-c", `${dir}/nginx.conf`]));
  for (const port of [5201, 7000, 8080]) await waitForTcp(agentNs, "127.0.0.1", port);

  // The hub, burrow's own WireGuard device first, wireguard-go when that cannot start.
  const state = `${dir}/hub`;
  const cred = await addHubClient(state, "bench");
  let device = "";
  const wanted = Deno.env.get("BENCH_HUB_WG_DEVICE");
  for (const candidate of wanted ? [wanted] : ["burrow", "wireguard-go"]) {
    try {
      hub = await startHub(hubNs, client, {
        stateDir: state,
        publicHost: HUB_PUBLIC,
        wgDevice: candidate,
        interface: hubIf,
        portRange: "22000-22009",
        logLevel: "warn",
        stderr: "inherit",
        startTimeoutMs: 15_000,
      });
      device = candidate;
      break;
    } catch {
      console.log(`hub with --wg-device ${candidate} did not start; trying the next`);
    }
  }
  if (!hub) throw new Error("the hub did not start");

  const { cert, key } = await makeSelfSignedCertificate(["bench.example.com"]);
  await Deno.writeTextFile(`${dir}/cert.pem`, cert);
  await Deno.writeTextFile(`${dir}/key.pem`, key);
  agent = startFakeAgent(agentNs, {
    hubHost: HUB_PUBLIC,
    credentials: cred,
    interface: `bhbb${suffix}`,
    name: "bench",
    certFile: `${dir}/cert.pem`,
    keyFile: `${dir}/key.pem`,
    mode: "bare",
    wgDevice: agentDevice,
  });
  const registered = await agent.next((e) => e.event === "registered", 30_000);
  const tunnelIP = String(registered.tunnelIP).split("/")[0];
  const ports: number[] = [];
  for (let i = 0; i < 2; i++) {
    ports.push((await agent.request("burrow/ports/allocate")).data.port as number);
  }
  const [iperfPort, echoPort] = ports;
  for (const [port, target] of [[iperfPort, 5201], [echoPort, 7000], [80, 8080]]) {
    await agent.send({ cmd: "forward", port, target });
    const listening = await agent.next((e) => e.event === "listening" || e.event === "failure");
    if (listening.event !== "listening") {
      const sockets = await agentNs.exec(["ss", "-ltnp"], { check: false });
      throw new Error(`forward ${port}: ${JSON.stringify(listening)}\n${sockets.stdout}`);
    }
  }
  await agent.request("burrow/rules/sync", {
    https: [{ domain: "bench.example.com", destination: "127.0.0.1", port: 8080 }],
    ports: ports.map((port) => ({ port })),
  });

  // OpenSSH remote forwarding from the agent namespace to an sshd in the hub namespace.
  await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host_key`]);
  await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", `${dir}/user_key`]);
  await Deno.copyFile(`${dir}/user_key.pub`, `${dir}/authorized_keys`);
  await Deno.writeTextFile(
    `${dir}/sshd_config`,
    `ListenAddress ${HUB_SIDE}:2222\nHostKey ${dir}/host_key\nAuthorizedKeysFile ${dir}/authorized_keys\n` +
      `PermitRootLogin yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n` +
      `StrictModes no\nGatewayPorts yes\nPidFile ${dir}/sshd.pid\n`,
  );
  await Deno.mkdir("/run/sshd", { recursive: true });
  children.push(hubNs.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", `${dir}/sshd_config`]));
  await waitForTcp(agentNs, HUB_SIDE, 2222);
  children.push(agentNs.spawn([
    "ssh",
    "-N",
    "-i",
    `${dir}/user_key`,
    "-p",
    "2222",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "ExitOnForwardFailure=yes",
    "-R",
    "0.0.0.0:23001:127.0.0.1:5201",
    "-R",
    "0.0.0.0:23002:127.0.0.1:7000",
    `root@${HUB_SIDE}`,
  ]));
  await waitForTcp(client, HUB_PUBLIC, 23001, 15_000);
  await waitForTcp(client, HUB_PUBLIC, 23002, 15_000);
  // The tunnel path must answer before measuring (first handshake).
  await waitFor(
    "the hub path to echo",
    async () => {
      const r = await client.exec([
        "socat",
        "-t",
        "1",
        "-T",
        "2",
        "-",
        `TCP:${HUB_PUBLIC}:${echoPort}`,
      ], {
        check: false,
        stdin: "ready",
      });
      return r.stdout === "ready";
    },
    20_000,
    200,
  );

  // The relays alone: the hub's and the agent's relay chained over loopback in the agent's
  // namespace, in front of the same iperf3.
  for (
    const [role, port, target] of [["agent", RELAY_AGENT_PORT, 5201], [
      "hub",
      RELAY_HUB_PORT,
      RELAY_AGENT_PORT,
    ]]
  ) {
    const script = `${REPO_ROOT}tests/hub/_relay_chain.ts`;
    children.push(
      agentNs.spawn([DENO, "run", "-A", script, String(role), String(port), String(target)]),
    );
  }
  await waitForTcp(agentNs, "127.0.0.1", RELAY_AGENT_PORT);
  await waitForTcp(agentNs, "127.0.0.1", RELAY_HUB_PORT);

  /** iperf3 from `from` to host:port in Mbit/s; `reverse`: the server sends. */
  const iperf = async (host: string, port: number, reverse = false, from = client) => {
    const argv = [
      "iperf3",
      "-c",
      host,
      "-p",
      String(port),
      "-t",
      String(SECONDS),
      "-J",
      ...(reverse ? ["-R"] : []),
    ];
    let result = { stdout: "", stderr: "" };
    let report: { error?: string; end?: { sum_received?: { bits_per_second?: number } } } = {};
    // The server refuses a test while it still winds the last one down: wait and ask again.
    for (let attempt = 0; attempt < 5; attempt++) {
      result = await from.exec(argv, { check: false });
      report = {};
      try {
        report = JSON.parse(result.stdout);
      } catch { /* no JSON: the error is on stderr */ }
      if (!report.error?.includes("busy")) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const bits = report.end?.sum_received?.bits_per_second;
    if (typeof bits !== "number") {
      console.log(`iperf3 to ${host}:${port} failed: ${report.error ?? result.stderr.trim()}`);
      return NaN;
    }
    return bits / 1e6;
  };

  const rtt = async (host: string, port: number) => {
    const result = await client.exec([
      DENO,
      "run",
      "-A",
      `${REPO_ROOT}tests/hub/_tcp_rtt.ts`,
      host,
      String(port),
      "2000",
    ]);
    return JSON.parse(result.stdout) as { p50: number; p99: number };
  };
  const wrk = (url: string, host?: string) =>
    runWrk(client, url, { connections: 32, seconds: SECONDS, host });

  // Alternating rounds, each path both ways; the medians are printed.
  const paths = {
    hub: (reverse: boolean) => iperf(HUB_PUBLIC, iperfPort, reverse),
    ssh: (reverse: boolean) => iperf(HUB_PUBLIC, 23001, reverse),
    direct: (reverse: boolean) => iperf(AGENT, 5201, reverse),
    tunnel: (reverse: boolean) => iperf(tunnelIP, 5201, reverse, hubNs),
    relays: (reverse: boolean) => iperf("127.0.0.1", RELAY_HUB_PORT, reverse, agentNs),
  };
  type PathName = keyof typeof paths;
  const samples = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(paths) as PathName[]) {
      for (const reverse of [false, true]) {
        const key = `${name}${reverse ? "-R" : ""}`;
        samples.set(key, [...samples.get(key) ?? [], await paths[name](reverse)]);
      }
    }
  }
  const tcp = (name: PathName, reverse = false) =>
    median(samples.get(`${name}${reverse ? "-R" : ""}`)!);
  const rtts = {
    hub: await rtt(HUB_PUBLIC, echoPort),
    ssh: await rtt(HUB_PUBLIC, 23002),
    direct: await rtt(AGENT, 7000),
  };
  const http = {
    hub: await wrk(`http://${HUB_PUBLIC}/`, "bench.example.com"),
    direct: await wrk(`http://${AGENT}:8080/`),
  };

  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  console.log(
    `hub ingress benchmark (hub tunnel: ${device}; agent: ${agentDevice}; ${SECONDS} s runs)`,
  );
  for (const reverse of [false, true]) {
    const mbit = (name: PathName) => `${tcp(name, reverse).toFixed(0)} Mbit/s`;
    console.log(
      `TCP ${reverse ? "agent->client" : "client->agent"} (median of ${ROUNDS}) hub ${
        mbit("hub")
      } | ssh -R ${mbit("ssh")} | direct ${mbit("direct")} | tunnel alone ${
        mbit("tunnel")
      } | relays alone ${mbit("relays")}`,
    );
    console.log(
      `  ratios        hub/ssh ${ratio(tcp("hub", reverse), tcp("ssh", reverse))} | hub/direct ${
        ratio(tcp("hub", reverse), tcp("direct", reverse))
      } | hub/tunnel ${ratio(tcp("hub", reverse), tcp("tunnel", reverse))}`,
    );
  }
  console.log(
    `TCP round trip  p50/p99 us: hub ${rtts.hub.p50}/${rtts.hub.p99} | ssh -R ${rtts.ssh.p50}/${rtts.ssh.p99} | direct ${rtts.direct.p50}/${rtts.direct.p99}`,
  );
  console.log(
    `  ratios (p50)  hub/ssh ${ratio(rtts.hub.p50, rtts.ssh.p50)} | hub/direct ${
      ratio(rtts.hub.p50, rtts.direct.p50)
    }`,
  );
  console.log(
    `HTTP (wrk -c32) hub ${http.hub.rps.toFixed(0)} req/s p99 ${
      http.hub.p99Ms.toFixed(2)
    } ms | direct ${http.direct.rps.toFixed(0)} req/s p99 ${http.direct.p99Ms.toFixed(2)} ms`,
  );
  console.log(
    `  ratios        rps hub/direct ${ratio(http.hub.rps, http.direct.rps)} | p99 hub/direct ${
      ratio(http.hub.p99Ms, http.direct.p99Ms)
    }`,
  );
} finally {
  await agent?.stop().catch(() => {});
  if (hub) await stopProcess(hub);
  for (const child of children) await stopProcess(child);
  await namespaces.destroy();
  await run(["ip", "link", "del", hubIf], { check: false });
  await Deno.remove(dir, { recursive: true });
}
