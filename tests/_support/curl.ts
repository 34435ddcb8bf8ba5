// curl as tests run it, on this host or inside a test's namespace: one answer split into its
// HTTP status, content type and body.

import { type Netns, run } from "./netns.ts";

export interface HttpAnswer {
  status: number;
  /** The Content-Type header, "" when absent. */
  contentType: string;
  body: string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
}

/**
 * Runs `curl -sS ARGS` (inside `ns` when given) and splits its answer into status, content
 * type and body.
 * Throws with curl's error when no HTTP answer came (refused, timed out, TLS failure).
 */
export async function curlAnswer(ns: Netns | null, args: string[]): Promise<HttpAnswer> {
  const cmd = ["curl", "-sS", "-w", "\n%{http_code} %{content_type}", ...args];
  const result = await (ns ? ns.exec(cmd) : run(cmd));
  const cut = result.stdout.lastIndexOf("\n");
  const body = result.stdout.slice(0, cut);
  const trailer = result.stdout.slice(cut + 1);
  const space = trailer.indexOf(" ");
  return {
    status: Number(trailer.slice(0, space)),
    contentType: trailer.slice(space + 1),
    body,
    json: () => JSON.parse(body),
  };
}
