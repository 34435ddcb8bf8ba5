// Benchmark (make bench): UDP GRO on the receive side (src/tun/udp_gro.ts) against the same
// devices with BURROW_UDP_GRO=off, in one run. burrow <-> burrow is where it matters (the sender's
// UDP GSO batches arrive coalesced); burrow <-> wireguard-go shows the plain-datagram path
// (wireguard-go v0.0.20220316 sends one datagram per call). iperf3 TCP both ways, alternating
// rounds over all pairs, medians and the on/off ratios printed.
// Run: deno run -A --unstable-net tests/tun/udp_gro_bench.ts

import { netnsCapability } from "../_support/netns.ts";
import { createPair, type Implementation, type Pair, pingUntilAnswered } from "./_wg_pair.ts";
import { median } from "../_support/bench.ts";
import { iperf } from "./throughput_bench.ts";

const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? "3");

interface Variant {
  name: string;
  peer: Implementation;
  gro: boolean;
}

const VARIANTS: Variant[] = [
  { name: "burrow <-> burrow, GRO", peer: "burrow", gro: true },
  { name: "burrow <-> burrow, GRO off", peer: "burrow", gro: false },
  { name: "burrow <-> wireguard-go, GRO", peer: "wireguard-go", gro: true },
  { name: "burrow <-> wireguard-go, GRO off", peer: "wireguard-go", gro: false },
];

if (import.meta.main) {
  const capability = netnsCapability();
  if (!capability.ok) {
    console.log(`udp_gro_bench: skipped, ${capability.reason}`);
    Deno.exit(0);
  }
  const pairs: Pair[] = [];
  try {
    for (const [i, variant] of VARIANTS.entries()) {
      const env: Record<string, string> = variant.gro ? {} : { BURROW_UDP_GRO: "off" };
      pairs.push(await createPair("burrow", variant.peer, { net: 61 + 2 * i, env }));
    }
    for (const pair of pairs) await pingUntilAnswered(pair.a, pair.b.inner4);
    const forward: number[][] = VARIANTS.map(() => []),
      reverse: number[][] = VARIANTS.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, pair] of pairs.entries()) forward[i].push(await iperf(pair, false));
      for (const [i, pair] of pairs.entries()) reverse[i].push(await iperf(pair, true));
    }
    console.log(`iperf3 TCP Mbit/s, median of ${ROUNDS} alternating rounds (A is burrow)`);
    console.log(`${"pair".padEnd(36)}${"A->B".padStart(10)}${"B->A".padStart(10)}`);
    const figures = VARIANTS.map((_, i) => [median(forward[i]), median(reverse[i])]);
    for (const [i, variant] of VARIANTS.entries()) {
      const [f, r] = figures[i];
      console.log(
        `${variant.name.padEnd(36)}${f.toFixed(0).padStart(10)}${r.toFixed(0).padStart(10)}`,
      );
    }
    for (const at of [0, 2]) {
      const [on, off] = [figures[at], figures[at + 1]];
      console.log(
        `ratio GRO/off with ${VARIANTS[at].peer}: A->B ${(on[0] / off[0]).toFixed(2)}x, B->A ${
          (on[1] / off[1]).toFixed(2)
        }x`,
      );
    }
  } finally {
    for (const pair of pairs) await pair.destroy();
  }
}
