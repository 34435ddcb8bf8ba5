// curl as tests run it, on this host or inside a test's namespace: one answer split into its
// HTTP status and body.

import { type Netns, run } from "./netns.ts";

export interface HttpAnswer {
  status: number;
  body: string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
}

/**
 * Runs `curl -s ARGS` (inside `ns` when given) and splits its answer into status and body.
 * Throws with curl's error when no HTTP answer came (refused, timed out, TLS failure).
 */
export async function curlAnswer(ns: Netns | null, args: string[]): Promise<HttpAnswer> {
  const cmd = ["curl", "-sS", "-w", "\n%{http_code}", ...args];
  const result = await (ns ? ns.exec(cmd) : run(cmd));
  const cut = result.stdout.lastIndexOf("\n");
  const body = result.stdout.slice(0, cut);
  return { status: Number(result.stdout.slice(cut + 1)), body, json: () => JSON.parse(body) };
}
