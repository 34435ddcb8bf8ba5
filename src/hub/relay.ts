// Byte relay between two connections (client <-> agent through the tunnel): both directions
// copied with one reused buffer each, half-closes passed on, both closed when done.

const RELAY_BUFFER_BYTES = 64 * 1024;

/** Copies `from` to `to` until EOF, then half-closes `to`. */
async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(RELAY_BUFFER_BYTES);
  while (true) {
    const n = await from.read(buffer);
    if (n === null) break;
    let written = 0;
    while (written < n) written += await to.write(buffer.subarray(written, n));
  }
  await to.closeWrite();
}

/**
 * Relays bytes both ways until both sides finished or one failed, then closes both.
 *
 * @param first initial bytes already read from `a`, written to `b` before relaying
 */
export async function relay(a: Deno.Conn, b: Deno.Conn, first?: Uint8Array): Promise<void> {
  try {
    if (first?.length) await writeAll(b, first);
    await Promise.all([pump(a, b), pump(b, a)]);
  } catch {
    // A reset or broken pipe on either side ends the whole relay.
  } finally {
    closeQuietly(a);
    closeQuietly(b);
  }
}

export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch { /* already closed */ }
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
