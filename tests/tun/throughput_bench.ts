// Benchmark (make bench): iperf3 TCP throughput both ways and ping RTT between burrow and
// wireguard-go, against wireguard-go to wireguard-go, each pair in its own two namespaces; prints
// the ratios and burrow's peak RSS. Both pairs stay up and are measured in alternating rounds,
// each figure the median of its rounds, so load from elsewhere on the machine hits both alike.
// Run: deno run -A --unstable-net tests/tun/throughput_bench.ts

import { median } from "../_support/bench.ts";
import { netnsCapability, stopProcess, waitFor } from "../_support/netns.ts";
import { createPair, type Pair, pingUntilAnswered } from "./_wg_pair.ts";

const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "5");
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? "3");
/** Each round's pings come in batches, the pairs taking turns, so both see the same moments. */
const PING_BATCHES = 5;
const PINGS_PER_BATCH = 40;
const PINGS_PER_ROUND = PING_BATCHES * PINGS_PER_BATCH;

interface Figures {
  forwardMbps: number;
  reverseMbps: number;
  rttMs: number;
}

export async function iperf(pair: Pair, reverse: boolean): Promise<number> {
  const { a, b } = pair;
  const server = b.ns.spawn(["iperf3", "-s", "-1", "-B", b.inner4, "-p", "5299"]);
  try {
    await waitFor(
      "iperf3 to listen",
      async () => (await b.ns.exec(["ss", "-ltn", "sport = :5299"])).stdout.includes("5299"),
    );
    const args = ["iperf3", "-c", b.inner4, "-p", "5299", "-t", String(SECONDS), "-J"];
    const result = await a.ns.exec(reverse ? [...args, "-R"] : args);
    const report = JSON.parse(result.stdout);
    return report.end.sum_received.bits_per_second / 1e6;
  } finally {
    await stopProcess(server);
  }
}

/** RTTs (ms) of `count` pings, one every 10 ms. */
async function pings(pair: Pair, count: number): Promise<number[]> {
  const result = await pair.a.ns.exec(["ping", "-c", String(count), "-i", "0.01", pair.b.inner4]);
  return [...result.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

/**
 * Median RTT (ms) of each pair over PINGS_PER_ROUND pings, taken in PING_BATCHES batches with
 * the pairs alternating (and their order reversed every other batch): load on the shared host
 * changes within seconds, and one block of pings per pair would give one pair a busier moment.
 */
async function rtts(pairs: Pair[]): Promise<number[]> {
  const values: number[][] = pairs.map(() => []);
  for (let batch = 0; batch < PING_BATCHES; batch++) {
    const order = batch % 2 === 0 ? [...pairs.keys()] : [...pairs.keys()].reverse();
    for (const i of order) values[i].push(...await pings(pairs[i], PINGS_PER_BATCH));
  }
  return values.map(median);
}

/** One round: each figure once, for each pair in turn. */
async function round(pairs: Pair[], into: Figures[][]): Promise<void> {
  for (const [i, pair] of pairs.entries()) {
    into[i].push({ forwardMbps: await iperf(pair, false) } as Figures);
  }
  for (const [i, pair] of pairs.entries()) into[i].at(-1)!.reverseMbps = await iperf(pair, true);
  for (const [i, rttMs] of (await rtts(pairs)).entries()) into[i].at(-1)!.rttMs = rttMs;
}

function medians(rounds: Figures[]): Figures {
  return {
    forwardMbps: median(rounds.map((f) => f.forwardMbps)),
    reverseMbps: median(rounds.map((f) => f.reverseMbps)),
    rttMs: median(rounds.map((f) => f.rttMs)),
  };
}

function peakRssKb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

if (import.meta.main) {
  const capability = netnsCapability();
  if (!capability.ok) {
    console.log(`throughput_bench: skipped, ${capability.reason}`);
    Deno.exit(0);
  }
  const burrowPair = await createPair("burrow", "wireguard-go", { net: 71 });
  let burrow: Figures, reference: Figures, rssKb: number;
  try {
    const referencePair = await createPair("wireguard-go", "wireguard-go", { net: 81 });
    try {
      const pairs = [burrowPair, referencePair];
      for (const pair of pairs) await pingUntilAnswered(pair.a, pair.b.inner4);
      const rounds: Figures[][] = [[], []];
      for (let i = 0; i < ROUNDS; i++) await round(pairs, rounds);
      [burrow, reference] = rounds.map(medians);
      rssKb = peakRssKb(burrowPair.a.process.pid);
    } finally {
      await referencePair.destroy();
    }
  } finally {
    await burrowPair.destroy();
  }
  const row = (name: string, f: Figures) =>
    `${name.padEnd(28)}${f.forwardMbps.toFixed(0).padStart(10)}${
      f.reverseMbps.toFixed(0).padStart(10)
    }${f.rttMs.toFixed(3).padStart(10)}`;
  console.log(
    `iperf3 TCP ${SECONDS}s per direction, Mbit/s; ping RTT ms (median of ${PINGS_PER_ROUND}, ` +
      `in ${PING_BATCHES} batches taking turns); ` +
      `each the median of ${ROUNDS} alternating rounds`,
  );
  console.log(
    `${"pair".padEnd(28)}${"A->B".padStart(10)}${"B->A".padStart(10)}${"RTT".padStart(10)}`,
  );
  console.log(row("burrow <-> wireguard-go", burrow));
  console.log(row("wireguard-go <-> wireguard-go", reference));
  console.log(
    `ratio burrow/wireguard-go: A->B ${
      (burrow.forwardMbps / reference.forwardMbps).toFixed(2)
    }x, ` +
      `B->A ${(burrow.reverseMbps / reference.reverseMbps).toFixed(2)}x, ` +
      `RTT ${(burrow.rttMs / reference.rttMs).toFixed(2)}x`,
  );
  console.log(`burrow peak RSS (VmHWM): ${(rssKb / 1024).toFixed(1)} MiB`);
}
