// Scaffolding the *_bench.ts files share: the skip when root, /dev/net/tun or a tool is
// missing, and wrk run inside a namespace with its report parsed.

import { type Netns, run } from "./netns.ts";

/**
 * Exits (status 0, the reason printed) unless this is root with /dev/net/tun and every one of
 * `tools` is on PATH (or an existing absolute path).
 */
export async function requireBenchSetup(benchmark: string, tools: string[]): Promise<void> {
  // netnsCapability() stats /dev/net/tun, which Deno allows only with --allow-all; make bench
  // runs with burrow's own permissions, so ask test(1) instead.
  const tun = await run(["test", "-c", "/dev/net/tun"], { check: false });
  if (Deno.uid() !== 0 || tun.code !== 0) {
    console.log(`skipping ${benchmark}: needs root and /dev/net/tun`);
    Deno.exit(0);
  }
  for (const tool of tools) {
    const found = await run(["bash", "-c", `command -v ${tool}`], { check: false });
    if (found.code !== 0) {
      console.log(`skipping ${benchmark}: ${tool} is missing (make bench-deps)`);
      Deno.exit(0);
    }
  }
}

export interface WrkResult {
  rps: number;
  /** NaN when wrk printed no latency distribution. */
  p99Ms: number;
  mbPerSecond: number;
}

const LATENCY_UNIT_MS = { us: 0.001, ms: 1, s: 1000 } as const;
const TRANSFER_UNIT_MB = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 } as const;

/** Requests per second, p99 latency and transfer rate from wrk's report (run with --latency). */
export function parseWrk(report: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(report)?.[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)\b/.exec(report);
  const latencyUnit = LATENCY_UNIT_MS[p99?.[2] as keyof typeof LATENCY_UNIT_MS] ?? NaN;
  const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(report);
  const transferUnit = TRANSFER_UNIT_MB[transfer?.[2] as keyof typeof TRANSFER_UNIT_MB] ?? NaN;
  return {
    rps,
    p99Ms: Number(p99?.[1]) * latencyUnit,
    mbPerSecond: Number(transfer?.[1]) * transferUnit,
  };
}

export interface WrkOptions {
  connections: number;
  seconds: number;
  /** A Host header, for a site reached by address. */
  host?: string;
  /** wrk's per-request timeout; wrk's own default (2 s) when absent. */
  timeoutSeconds?: number;
}

/** Runs wrk against `url` inside `ns` (at most two threads) and parses its report. */
export async function runWrk(ns: Netns, url: string, options: WrkOptions): Promise<WrkResult> {
  const result = await ns.exec([
    "wrk",
    `-t${Math.min(2, options.connections)}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    ...(options.timeoutSeconds ? ["--timeout", `${options.timeoutSeconds}s`] : []),
    "--latency",
    ...(options.host ? ["-H", `Host: ${options.host}`] : []),
    url,
  ]);
  return parseWrk(result.stdout);
}

/** The median of the values that are numbers (NaN, a failed measurement, is left out). */
export function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
