// Serving a site's webRoot on the wire: the file resolved by static_files.ts (index files,
// content type, one byte range) written to the client in large chunks, with 304/404/416 answers.

import {
  type ByteStream,
  formatResponseHead,
  type HeaderList,
  headerValue,
  type RequestHead,
  writeAll,
} from "../net/mod.ts";
import { contentTypeOf, lookupStatic, parseRange } from "./static_files.ts";
import { answer } from "./site_answer.ts";

/** Bytes read from a file per write to the client. */
const FILE_CHUNK_BYTES = 64 * 1024;

/** Answers one GET or HEAD from the files under `root`. */
export async function serveStatic(
  client: ByteStream,
  head: RequestHead,
  root: string,
  path: string,
  keepAlive: boolean,
): Promise<void> {
  if (head.method !== "GET" && head.method !== "HEAD") {
    await answer(client, 405, "Method Not Allowed", "method not allowed\n", keepAlive, undefined, [
      ["Allow", "GET, HEAD"],
    ]);
    return;
  }
  const found = await lookupStatic(root, path);
  if (found.kind === "forbidden") {
    await answer(client, 403, "Forbidden", "forbidden\n", keepAlive);
    return;
  }
  if (found.kind === "not-found") {
    await answer(client, 404, "Not Found", "not found\n", keepAlive);
    return;
  }
  if (found.kind === "redirect") {
    await answer(client, 301, "Moved Permanently", "", keepAlive, undefined, [[
      "Location",
      found.location,
    ]]);
    return;
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(found.path, { read: true });
  } catch {
    await answer(client, 403, "Forbidden", "forbidden\n", keepAlive);
    return;
  }
  try {
    const range = parseRange(headerValue(head.headers, "range"), found.size);
    if (range.kind === "unsatisfiable") {
      await answer(client, 416, "Range Not Satisfiable", "", keepAlive, undefined, [[
        "Content-Range",
        `bytes */${found.size}`,
      ]]);
      return;
    }
    const start = range.kind === "partial" ? range.start : 0;
    const end = range.kind === "partial" ? range.end : found.size - 1;
    const length = Math.max(0, end - start + 1);
    const headers: HeaderList = [
      ["Content-Type", contentTypeOf(found.path)],
      ["Content-Length", String(length)],
      ["Accept-Ranges", "bytes"],
      ["Connection", keepAlive ? "keep-alive" : "close"],
    ];
    if (found.mtime) headers.push(["Last-Modified", found.mtime.toUTCString()]);
    if (range.kind === "partial") {
      headers.push(["Content-Range", `bytes ${start}-${end}/${found.size}`]);
    }
    const headBytes = formatResponseHead({
      version: "HTTP/1.1",
      status: range.kind === "partial" ? 206 : 200,
      reason: range.kind === "partial" ? "Partial Content" : "OK",
      headers,
    });
    if (head.method === "HEAD" || length === 0) {
      await writeAll(client, headBytes);
      return;
    }
    await file.seek(start, Deno.SeekMode.Start);
    // A small file goes out with its head in one write; a large one streams in chunks.
    const first = Math.min(length, FILE_CHUNK_BYTES);
    const buffer = new Uint8Array(headBytes.length + first);
    buffer.set(headBytes);
    let filled = 0;
    while (filled < first) {
      const n = await file.read(buffer.subarray(headBytes.length + filled));
      if (n === null) throw new Deno.errors.UnexpectedEof("file shrank while sending");
      filled += n;
    }
    await writeAll(client, buffer);
    let left = length - first;
    const chunk = buffer.subarray(0, Math.min(left, FILE_CHUNK_BYTES));
    while (left > 0) {
      const n = await file.read(chunk.subarray(0, Math.min(left, chunk.length)));
      if (n === null) throw new Deno.errors.UnexpectedEof("file shrank while sending");
      await writeAll(client, chunk.subarray(0, n));
      left -= n;
    }
  } finally {
    file.close();
  }
}
