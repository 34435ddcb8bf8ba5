// Byte streams, shared by the hub's and the agent's relays: the one two-way relay with
// half-close, writing a whole buffer, closing without caring whether it is closed already,
// and reading a protocol's opening bytes (a request head, a ClientHello, a PROXY header) into
// one capped buffer until a parser has seen enough, and reading a whole web stream under a cap.

/** Anything bytes are read from (a connection, a buffered reader in front of one). */
export interface ByteReader {
  read(p: Uint8Array): Promise<number | null>;
}

/** Anything bytes are written to; a write may take only part of the buffer. */
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}

/** A connection as the relay sees it: TCP, TLS or Unix, plain or behind a buffered reader. */
export interface ByteStream extends ByteReader, ByteWriter {
  close(): void;
  /** Sends EOF while still reading (half-close); absent on streams that cannot. */
  closeWrite?(): Promise<void>;
}

/**
 * The largest read buffer of a relay direction: large reads, few syscalls, reused for the
 * direction's whole life.
 */
export const RELAY_BUFFER_BYTES = 64 * 1024;
/**
 * A direction starts with a small buffer and moves to the next size only when a read filled
 * it, so the thousand idle or chatty connections of a busy host hold 2 x 4 KiB each instead
 * of 2 x 64 KiB, while a bulk stream reaches full size after two reads.
 */
export const RELAY_BUFFER_SIZES = [4 * 1024, 16 * 1024, RELAY_BUFFER_BYTES] as const;

/** Writes every byte of `data`. */
export async function writeAll(writer: ByteWriter, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) {
    written += await writer.write(written === 0 ? data : data.subarray(written));
  }
}

/** Closes a connection or listener, ignoring one that is closed already. */
export function closeQuietly(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // Closed already.
  }
}

/** Concatenates chunks into one array. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Where each side of a relay is read from when not from the connection itself. */
export interface RelayOptions {
  /** Bytes already read from `a`, written to `b` before relaying. */
  first?: Uint8Array;
  /** Reads `a`'s bytes (e.g. a buffered reader holding bytes read ahead). @default a */
  readA?: ByteReader;
  /** Reads `b`'s bytes. @default b */
  readB?: ByteReader;
  /** Told the size of every chunk read from `a` (byte counters; no wrapper on the hot path). */
  countA?: (bytes: number) => void;
  /** Told the size of every chunk read from `b`. */
  countB?: (bytes: number) => void;
}

/**
 * Relays bytes both ways until both directions ended or one failed, then closes both. Each
 * direction's EOF is passed on as a half-close, so a peer that stops sending can still read.
 *
 * @example Relay a client to an upstream after the bytes already sniffed from the client
 * ```ts
 * await relay(client, upstream, { first: sniffed });
 * ```
 */
export async function relay(a: ByteStream, b: ByteStream, options: RelayOptions = {}) {
  try {
    if (options.first?.length) await writeAll(b, options.first);
    await Promise.all([
      pump(options.readA ?? a, b, options.countA),
      pump(options.readB ?? b, a, options.countB),
    ]);
  } catch {
    // A reset or broken pipe on either side ends the whole relay (both are closed below, so
    // the other direction's pending read ends too).
  } finally {
    closeQuietly(a);
    closeQuietly(b);
  }
}

/** Copies `from` to `to` until EOF, then half-closes `to`. */
async function pump(
  from: ByteReader,
  to: ByteStream,
  count?: (bytes: number) => void,
): Promise<void> {
  let size = 0;
  let buffer = new Uint8Array(RELAY_BUFFER_SIZES[size]);
  while (true) {
    const n = await from.read(buffer);
    if (n === null) break;
    count?.(n);
    // Written here rather than through writeAll(): one promise less per chunk.
    let written = await to.write(n === buffer.length ? buffer : buffer.subarray(0, n));
    while (written < n) written += await to.write(buffer.subarray(written, n));
    if (n === buffer.length && size < RELAY_BUFFER_SIZES.length - 1) {
      buffer = new Uint8Array(RELAY_BUFFER_SIZES[++size]);
    }
  }
  await to.closeWrite?.();
}

/** A parser of a protocol's opening bytes: "need-more" until it has seen enough. */
export type OpeningParser<T extends { kind: string }> = (data: Uint8Array) => T;

/**
 * Reads from `source` into one buffer (grown by doubling, never past `maxBytes`) until `parse`
 * answers something other than `need-more`.
 *
 * @param initial bytes already read, parsed first
 * @returns the verdict and every byte read (a view), or null at EOF or when `maxBytes` are
 *   buffered and the parser still needs more
 */
export async function readOpening<T extends { kind: string }>(
  source: ByteReader,
  parse: OpeningParser<T>,
  maxBytes: number,
  initial: Uint8Array = new Uint8Array(0),
): Promise<{ verdict: T; bytes: Uint8Array } | null> {
  let buffer = new Uint8Array(Math.max(initial.length, Math.min(4096, maxBytes)));
  buffer.set(initial);
  let length = initial.length;
  while (true) {
    if (length > 0) {
      const verdict = parse(buffer.subarray(0, length));
      if (verdict.kind !== "need-more") return { verdict, bytes: buffer.subarray(0, length) };
    }
    if (length >= maxBytes) return null;
    if (length === buffer.length) {
      const bigger = new Uint8Array(Math.min(buffer.length * 2, maxBytes));
      bigger.set(buffer);
      buffer = bigger;
    }
    const n = await source.read(buffer.subarray(length));
    if (n === null) return null;
    length += n;
  }
}

/** Reads a whole stream, or cancels it and answers null once it passes `limit` bytes. */
export async function readStreamCapped(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return concat(chunks);
}
