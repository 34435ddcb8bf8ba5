// Benchmark (make bench), issue #11 item 4: resident memory of an idle agent and an idle hub
// 20 s after the agent connected (burrow's own WireGuard device on both ends), against a bare
// Deno process measured in the same run and against the targets (agent <= 80 MiB, hub <= 96 MiB).
// Also prints each process's thread count, and how much of its RSS is private (anonymous) and
// how much is pages of files (mostly the deno executable's own code, shared and droppable by
// the kernel, but counted in RSS), so the cost of a cut is visible where it lands.
// Run: deno run -A --unstable-net tests/tun/idle_rss_bench.ts

import { requireBenchSetup } from "../_support/bench.ts";
import * as burrow from "../_support/burrow.ts";
import { NetnsGroup, run, spawn, stopProcess, uniqueSuffix, waitFor } from "../_support/netns.ts";
import { createRulesTopology, HUB_A } from "../rules/_topology.ts";

const IDLE_SECONDS = Number(Deno.env.get("BENCH_IDLE_SECONDS") ?? "20");
const AGENT_TARGET_MIB = 80;
const HUB_TARGET_MIB = 96;

await requireBenchSetup("idle RSS benchmark", ["ip"]);

interface Memory {
  rssMiB: number;
  anonMiB: number;
  fileMiB: number;
  threads: number;
}

async function memoryOf(pid: number): Promise<Memory> {
  const status = (await run(["cat", `/proc/${pid}/status`])).stdout;
  const mib = (field: string) =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return {
    rssMiB: mib("VmRSS"),
    anonMiB: mib("RssAnon"),
    fileMiB: mib("RssFile"),
    threads: Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? NaN),
  };
}

const suffix = uniqueSuffix();
const dir = await Deno.makeTempDir({ prefix: "bir-bench-" });
const namespaces = new NetnsGroup();
const children: Deno.ChildProcess[] = [];
try {
  const { hub: hubNs, agents: [agentNs] } = await createRulesTopology(namespaces, "bir", 1);
  // The reference: a bare Deno idling for as long.
  const bare = spawn([burrow.DENO, "eval", "setTimeout(() => {}, 600000)"]);
  children.push(bare);

  const hubState = `${dir}/hub`;
  const credentials = await burrow.addHubClient(hubState, "idle");
  const hub = await burrow.startHub(hubNs, agentNs, {
    stateDir: hubState,
    publicHost: HUB_A,
    interface: `birh${suffix}`,
    portRange: "22400-22409",
    logLevel: "warn",
  });
  children.push(hub);
  const login = burrow.loginFlags(burrow.hubEndpoint(HUB_A), credentials);
  const agentDir = `${dir}/agent`;
  const agent = burrow.startAgent(agentNs, {
    args: ["--log-level", "warn", ...login],
    interface: `bira${suffix}`,
    socket: `${agentDir}.sock`,
    stateDir: agentDir,
  });
  children.push(agent);
  const info = async () =>
    await (await burrow.unixSocketApi(`${agentDir}.sock`)("GET", "/api/client/v1.0/info"))
      .json<{ isTunConnected: boolean }>();
  await waitFor("agent connected", async () => (await info()).isTunConnected, 45_000, 200);
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  const [agentMemory, hubMemory, bareMemory] = await Promise.all(
    [agent.pid, hub.pid, bare.pid].map(memoryOf),
  );
  const row = (name: string, m: Memory, target: number | null) =>
    `${name.padEnd(10)}${m.rssMiB.toFixed(1).padStart(10)}${m.anonMiB.toFixed(1).padStart(8)}${
      m.fileMiB.toFixed(1).padStart(8)
    }${String(m.threads).padStart(9)}${(m.rssMiB / bareMemory.rssMiB).toFixed(2).padStart(10)}${
      target === null
        ? ""
        : `${String(target).padStart(10)}  ${m.rssMiB <= target ? "met" : "NOT met"}`
    }`;
  console.log(`idle RSS ${IDLE_SECONDS}s after the agent connected (burrow device on both ends)`);
  console.log(
    `${"process".padEnd(10)}${"RSS MiB".padStart(10)}${"anon".padStart(8)}${"file".padStart(8)}${
      "threads".padStart(9)
    }${"x bare".padStart(10)}${"target".padStart(10)}`,
  );
  console.log(row("agent", agentMemory, AGENT_TARGET_MIB));
  console.log(row("hub", hubMemory, HUB_TARGET_MIB));
  console.log(row("bare deno", bareMemory, null));
  console.log(
    `ratio to target: agent ${(agentMemory.rssMiB / AGENT_TARGET_MIB).toFixed(2)}x, hub ${
      (hubMemory.rssMiB / HUB_TARGET_MIB).toFixed(2)
    }x`,
  );
} finally {
  for (const child of children.reverse()) await stopProcess(child);
  await namespaces.destroy();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
