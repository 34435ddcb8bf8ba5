// Benchmark (make bench), issue #13 item 4: a legitimate peer's ping loss while a handshake flood
// (mac1-valid initiations with junk between them, from another address) hits the device, for
// burrow and for Debian's wireguard-go in the same run. The legitimate peer is wireguard-go in
// both cases and has its session before the flood starts. Prints loss, cookie replies per
// initiation, and burrow's loss against wireguard-go's.
// Run: deno run -A --unstable-net tests/tun/flood_bench.ts

import { netnsCapability, stopProcess } from "../_support/netns.ts";
import { createPair, type Implementation, pingUntilAnswered, REPO_ROOT } from "./_wg_pair.ts";

const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "10");
const RATE = Number(Deno.env.get("BENCH_FLOOD_RATE") ?? "4000");
const JUNK_PER_INITIATION = 5;
const PING_INTERVAL_S = 0.05;

/** Ping loss of the legitimate peer, and initiations sent and cookie replies seen by the attacker. */
async function measure(implementation: Implementation, net: number) {
  const pair = await createPair(implementation, "wireguard-go", { net });
  try {
    const { a, b } = pair;
    await pingUntilAnswered(b, a.inner4);
    // The attacker sits in B's namespace on an address of its own.
    const addresses = (await b.ns.exec(["ip", "-o", "-4", "addr", "show"])).stdout;
    const veth = /^\d+: (\S+)\s+inet 10\.\d+\.0\.2\//m.exec(addresses)?.[1];
    if (!veth) throw new Error(`no veth in ${addresses}`);
    const attacker = `10.${net}.0.3`;
    await b.ns.exec(["ip", "addr", "add", `${attacker}/24`, "dev", veth]);
    const flooder = b.ns.spawn([
      Deno.execPath(),
      "run",
      "--allow-all",
      "--unstable-net",
      `${REPO_ROOT}tests/tun/_flood_sender.ts`,
      attacker,
      a.outer4,
      String(a.port),
      a.keys.publicKey,
      String(SECONDS + 2),
      String(RATE),
      String(JUNK_PER_INITIATION),
    ], { stdout: "piped" });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000)); // the flood is on
      const count = Math.round(SECONDS / PING_INTERVAL_S);
      const ping = await b.ns.exec(
        ["ping", "-c", String(count), "-i", String(PING_INTERVAL_S), "-W", "1", "-q", a.inner4],
        { check: false },
      );
      const loss = Number(/([\d.]+)% packet loss/.exec(ping.stdout)?.[1] ?? NaN);
      const output = new TextDecoder().decode((await flooder.output()).stdout);
      const sent = JSON.parse(output.trim().split("\n").pop()!);
      return {
        lossPercent: loss,
        initiations: sent.initiations as number,
        cookies: sent.cookies as number,
      };
    } finally {
      await stopProcess(flooder);
    }
  } finally {
    await pair.destroy();
  }
}

type Figures = Awaited<ReturnType<typeof measure>>;

if (import.meta.main) {
  const capability = netnsCapability();
  if (!capability.ok) {
    console.log(`flood_bench: skipped, ${capability.reason}`);
    Deno.exit(0);
  }
  const burrow = await measure("burrow", 91);
  const reference = await measure("wireguard-go", 93);
  const row = (name: string, f: Figures) =>
    `${name.padEnd(16)}${f.lossPercent.toFixed(1).padStart(10)}${
      f.initiations.toString().padStart(13)
    }${(100 * f.cookies / Math.max(1, f.initiations)).toFixed(1).padStart(10)}`;
  console.log(
    `handshake flood: ${RATE} mac1-valid initiations/s + ${JUNK_PER_INITIATION} junk each, ` +
      `${SECONDS}s; a wireguard-go peer pings every ${PING_INTERVAL_S}s`,
  );
  console.log(
    `${"target".padEnd(16)}${"loss %".padStart(10)}${"initiations".padStart(13)}${
      "cookie %".padStart(10)
    }`,
  );
  console.log(row("burrow", burrow));
  console.log(row("wireguard-go", reference));
  const verdict = burrow.lossPercent <= reference.lossPercent ? "no worse" : "WORSE";
  console.log(
    `ratio burrow/wireguard-go ping loss: ${
      reference.lossPercent > 0
        ? (burrow.lossPercent / reference.lossPercent).toFixed(2) + "x"
        : `${burrow.lossPercent.toFixed(1)}% vs 0%`
    } (${verdict} than wireguard-go)`,
  );
}
