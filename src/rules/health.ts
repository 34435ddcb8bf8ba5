// Upstream health for `GET /api/client/v1.0/health`: a webRoot must exist and be readable, an
// upstream (destination+port, upstreamURL, or the tls passthrough port) and a port forward's
// destination must accept a TCP connection. Port maps are not checked (as the spec says).

import { flowId } from "./flow_id.ts";
import { upstreamOf } from "./site_routing.ts";
import { type HttpsRule, type PortRule, publicHttpsRule } from "../protocol/mod.ts";
import { isForward } from "./rule_store.ts";

/** How long one TCP probe may take. */
export const HEALTH_CONNECT_TIMEOUT_MS = 2_000;

export interface HealthEntry {
  flowID: bigint;
  available: boolean;
  /** The site checked (without its private key). */
  http?: Omit<HttpsRule, "privateKey">;
  /** The port forward checked. */
  port?: PortRule;
}

/** Whether `hostname:port` accepts a TCP connection within the timeout. */
export async function acceptsTcp(
  hostname: string,
  port: number,
  timeoutMs = HEALTH_CONNECT_TIMEOUT_MS,
): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname, port, signal: AbortSignal.timeout(timeoutMs) });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Whether `path` is a directory (or file) this process can read. */
export async function readablePath(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) {
      for await (const _ of Deno.readDir(path)) break;
      return true;
    }
    if (info.isFile) {
      (await Deno.open(path, { read: true })).close();
      return true;
    }
    return false;
  } catch {
    return false;
  }
}

async function siteAvailable(rule: HttpsRule, timeoutMs: number): Promise<boolean> {
  const upstream = upstreamOf(rule);
  if (upstream) return await acceptsTcp(upstream.hostname, upstream.port, timeoutMs);
  if (rule.tls && rule.destination !== "") {
    return await acceptsTcp(rule.destination, rule.tls, timeoutMs);
  }
  if (rule.webRoot !== "") return await readablePath(rule.webRoot);
  return false;
}

/** Checks every site and port forward, all at once. */
export function checkHealth(
  rules: { https: readonly HttpsRule[]; ports: readonly PortRule[] },
  timeoutMs = HEALTH_CONNECT_TIMEOUT_MS,
): Promise<HealthEntry[]> {
  const sites = rules.https.map(async (rule): Promise<HealthEntry> => ({
    flowID: flowId("http", rule.domain),
    available: await siteAvailable(rule, timeoutMs),
    http: publicHttpsRule(rule),
  }));
  const ports = rules.ports.filter(isForward).map(async (rule): Promise<HealthEntry> => ({
    flowID: flowId("port", rule.port),
    available: await acceptsTcp(rule.destination, rule.dstPort, timeoutMs),
    port: rule,
  }));
  return Promise.all([...sites, ...ports]);
}
