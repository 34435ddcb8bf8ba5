// The site engine's own short answers (400, 403, 404, 502, redirects, ACME key
// authorizations): a complete head and body written in one piece.

import { type ByteStream, formatResponseHead, type HeaderList, writeAll } from "../net/mod.ts";

/** Writes a complete answer with a text body. */
export async function answer(
  client: ByteStream,
  status: number,
  reason: string,
  body: string,
  keepAlive: boolean,
  contentType = "text/plain; charset=utf-8",
  extra: HeaderList = [],
): Promise<void> {
  const bytes = new TextEncoder().encode(body);
  const head = formatResponseHead({
    version: "HTTP/1.1",
    status,
    reason,
    headers: [
      ["Content-Type", contentType],
      ["Content-Length", String(bytes.length)],
      ["Connection", keepAlive ? "keep-alive" : "close"],
      ...extra,
    ],
  });
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  await writeAll(client, out);
}
