// HTTP/1.1 bodies on a raw byte stream, for the agent's site engine: a buffered reader that
// finds heads (parsed by net/http1_head.ts, which also decides the framing), and bodies copied
// by their framing (Content-Length, chunked, until close) without decoding them, so streamed
// bodies and upgrades pass through.

import {
  type BodyFraming,
  type ByteReader,
  type ByteWriter,
  copyBuffers,
  encodeLatin1,
  encodeLatin1Into,
  headBuffers,
  HttpWireError,
  indexOfBlankLine,
  latin1,
  requestFraming,
  responseBodyFraming,
  type ResponseHead,
  writeAll,
} from "../net/mod.ts";

/** Largest request or response head accepted. */
export const MAX_HEAD_BYTES = 64 * 1024;
// The buffer each reader keeps for heads, chunk lines and what arrives with them: 4 KiB keeps a
// thousand kept-alive connections cheap (two readers each), and a longer head grows it. Bodies
// past what is buffered are read straight into a pooled 64 KiB buffer (copyBody).
const HEAD_BUFFER_BYTES = 4 * 1024;

/** Reads from a stream through a buffer that may hold bytes read ahead (or handed in). */
export class BufferedReader {
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;

  constructor(readonly source: ByteReader, initial?: Uint8Array) {
    this.#buffer = new Uint8Array(Math.max(HEAD_BUFFER_BYTES, initial?.length ?? 0));
    if (initial) {
      this.#buffer.set(initial);
      this.#end = initial.length;
    }
  }

  /** Bytes buffered and not yet consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Takes `n` bytes that are already buffered, without reading.
   *
   * @returns a view valid until the next read, or null when fewer than `n` are buffered
   */
  takeBuffered(n: number): Uint8Array | null {
    if (this.#end - this.#start < n) return null;
    const out = this.#buffer.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Takes every buffered byte (for handing the stream to a raw relay). */
  drain(): Uint8Array {
    const out = this.#buffer.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    return out;
  }

  async #fill(): Promise<boolean> {
    if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buffer.length) {
      if (this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        const bigger = new Uint8Array(this.#buffer.length * 2);
        bigger.set(this.#buffer);
        this.#buffer = bigger;
      }
    }
    const n = await this.source.read(this.#buffer.subarray(this.#end));
    if (n === null || n === 0) return false;
    this.#end += n;
    return true;
  }

  /**
   * Reads up to and including the blank line ending a head.
   *
   * @returns the head's bytes without the final CRLFCRLF, or null at a clean end of stream
   * @throws {HttpWireError} when the head grows past the cap or the stream ends inside it
   */
  async readHead(): Promise<string | null> {
    let searchFrom = this.#start;
    while (true) {
      const at = indexOfBlankLine(this.#buffer, searchFrom, this.#end);
      if (at >= 0) {
        const text = latin1(this.#buffer.subarray(this.#start, at));
        this.#start = at + 4;
        return text;
      }
      if (this.#end - this.#start > MAX_HEAD_BYTES) throw new HttpWireError("head too large");
      searchFrom = Math.max(this.#start, this.#end - 3);
      const offset = this.#start;
      if (!await this.#fill()) {
        if (this.#end === this.#start) return null;
        throw new HttpWireError("stream ended inside a head");
      }
      searchFrom -= offset - this.#start;
    }
  }

  /** Reads one CRLF-terminated line (chunk sizes, trailers), without the CRLF. */
  async readLine(max = 8192): Promise<string> {
    let searchFrom = this.#start;
    while (true) {
      for (let i = searchFrom; i + 1 < this.#end; i++) {
        if (this.#buffer[i] === 13 && this.#buffer[i + 1] === 10) {
          const text = latin1(this.#buffer.subarray(this.#start, i));
          this.#start = i + 2;
          return text;
        }
      }
      if (this.#end - this.#start > max) throw new HttpWireError("line too long");
      searchFrom = Math.max(this.#start, this.#end - 1);
      const offset = this.#start;
      if (!await this.#fill()) throw new HttpWireError("stream ended inside a line");
      searchFrom -= offset - this.#start;
    }
  }

  /**
   * Reads into `p`: buffered bytes first, else straight from the source (no copy through the
   * buffer), so a relay can take over the stream.
   *
   * @returns the number of bytes read, or null at end of stream
   */
  async read(p: Uint8Array): Promise<number | null> {
    if (this.#start === this.#end) return await this.source.read(p);
    const n = Math.min(p.length, this.#end - this.#start);
    p.set(this.#buffer.subarray(this.#start, this.#start + n));
    this.#start += n;
    return n;
  }
}

export { requestFraming };

/**
 * Framing of a response body to a request with `method` (RFC 9112 section 6.3).
 *
 * @throws {HttpWireError}
 */
export function responseFraming(method: string, head: ResponseHead): BodyFraming {
  if (
    method === "HEAD" || (head.status >= 100 && head.status < 200) || head.status === 204 ||
    head.status === 304
  ) {
    return { kind: "none" };
  }
  return responseBodyFraming(head.headers);
}

/** Largest body sent in the same write as its head (one packet through the tunnel). */
export const COALESCE_BODY_BYTES = 16 * 1024;

/**
 * Writes a head followed by its body, in one write when the body is small and already
 * buffered (a small answer then crosses the tunnel as one packet, not two). The head is
 * encoded straight into the buffer that is written.
 *
 * @param head the head's text (latin1), blank line included
 * @returns whether the body was taken from `reader` (else the caller copies it)
 */
export async function writeHeadWithBufferedBody(
  writer: ByteWriter,
  head: string,
  reader: BufferedReader,
  body: BodyFraming,
): Promise<boolean> {
  let bytes: Uint8Array | null = null;
  if (body.kind === "length" && body.length <= COALESCE_BODY_BYTES) {
    bytes = reader.takeBuffered(body.length);
  }
  const size = head.length + (bytes?.length ?? 0);
  // Encoded into a pooled buffer, held only until the write completes. Past the pool's size,
  // or while as many as it keeps are out (a thousand connections writing at once), a buffer
  // of the exact size instead: the pool never holds more than it keeps.
  const pooled = size <= headBuffers.size ? headBuffers.takeWithinKeep() : null;
  const out = pooled ?? new Uint8Array(size);
  try {
    encodeLatin1Into(head, out);
    if (bytes) out.set(bytes, head.length);
    const data = out.subarray(0, size);
    // One write nearly always takes it all: writeAll (another promise) only for the rest.
    const written = await writer.write(data);
    if (written < size) await writeAll(writer, data.subarray(written));
  } finally {
    if (pooled) headBuffers.give(pooled);
  }
  return bytes !== null || body.kind === "none";
}

/**
 * Copies one body from `reader` to `writer` as it is framed, bytes unchanged (chunk sizes and
 * trailers included).
 *
 * @returns false when the body ran until the end of the stream (the connection cannot be reused)
 * @throws {HttpWireError} when the stream ends early or the chunk framing is malformed
 */
export async function copyBody(
  reader: BufferedReader,
  writer: ByteWriter,
  body: BodyFraming,
): Promise<boolean> {
  switch (body.kind) {
    case "none":
      return true;
    case "length": {
      const left = body.length - await writeBuffered(reader, writer, body.length);
      if (left > 0 && await copyDirect(reader.source, writer, left) < left) {
        throw new HttpWireError("stream ended inside a body");
      }
      return true;
    }
    case "chunked": {
      while (true) {
        const line = await reader.readLine();
        const match = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(line.trimEnd());
        if (!match) throw new HttpWireError("malformed chunk size");
        const size = parseInt(match[1], 16);
        await writeAll(writer, encodeLatin1(line + "\r\n"));
        if (size === 0) {
          // Trailers, then the blank line.
          while (true) {
            const trailer = await reader.readLine();
            await writeAll(writer, encodeLatin1(trailer + "\r\n"));
            if (trailer === "") return true;
          }
        }
        await copyBody(reader, writer, { kind: "length", length: size });
        const end = await reader.readLine();
        if (end !== "") throw new HttpWireError("chunk not followed by CRLF");
        await writeAll(writer, encodeLatin1("\r\n"));
      }
    }
    case "close": {
      await writeBuffered(reader, writer, Infinity);
      await copyDirect(reader.source, writer, Infinity);
      return false;
    }
  }
}

/** Writes up to `max` bytes the reader holds already; returns how many. */
async function writeBuffered(
  reader: BufferedReader,
  writer: ByteWriter,
  max: number,
): Promise<number> {
  const n = Math.min(max, reader.buffered);
  if (n > 0) await writeAll(writer, reader.takeBuffered(n)!);
  return n;
}

/**
 * Copies up to `max` bytes from `source` through a pooled buffer (none is held between
 * bodies); returns how many were copied before the stream ended or `max` was reached.
 */
async function copyDirect(source: ByteReader, writer: ByteWriter, max: number): Promise<number> {
  const buffer = copyBuffers.take();
  let copied = 0;
  try {
    while (copied < max) {
      const want = Math.min(max - copied, buffer.length);
      const n = await source.read(want === buffer.length ? buffer : buffer.subarray(0, want));
      if (n === null || n === 0) break;
      copied += n;
      await writeAll(writer, buffer.subarray(0, n));
    }
  } finally {
    copyBuffers.give(buffer);
  }
  return copied;
}

/** A discarding writer, for reading past a request body the engine does not forward. */
export const DISCARD: ByteWriter = { write: (p) => Promise.resolve(p.length) };
