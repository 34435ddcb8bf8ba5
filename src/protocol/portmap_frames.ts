// The in-tunnel port-map protocol (docs/port-map-protocol.md, "Hub port-map service"): the
// request line an agent sends to the hub, the answer line, and the datagram framing for UDP.
// Pure encoders and decoders shared by the hub's service and the agent's dialer, and the
// refusal the dialer throws.

/** TCP port of the hub's port-map service, on the hub's tunnel address only. */
export const PORT_MAP_SERVICE_PORT = 4747;
/** Largest request or answer line, newline included. */
export const PORT_MAP_MAX_LINE_BYTES = 1024;
/** Largest datagram carried in a UDP port map (2-byte length prefix). */
export const PORT_MAP_MAX_DATAGRAM_BYTES = 65535;

export interface PortMapRequest {
  /** Outside host or address the hub dials; "" means another tunnel's allocated port. */
  destination: string;
  dstPort: number;
  transport: "tcp" | "udp";
}

export type PortMapAnswer = { ok: true } | { ok: false; error: string };

/** The hub refused a port-map request; `message` is the hub's reason. */
export class PortMapRefused extends Error {
  override name = "PortMapRefused";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodePortMapRequest(request: PortMapRequest): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      v: 1,
      destination: request.destination,
      dstPort: request.dstPort,
      transport: request.transport,
    }) + "\n",
  );
}

/** Parses a request line (without its newline); null when it is not a valid request. */
export function decodePortMapRequest(line: Uint8Array): PortMapRequest | null {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(line));
  } catch {
    return null;
  }
  if (!value || typeof value !== "object") return null;
  const { v, destination, dstPort, transport } = value as Record<string, unknown>;
  if (v !== 1) return null;
  if (typeof destination !== "string" || destination.length > 253) return null;
  if (typeof dstPort !== "number" || !Number.isInteger(dstPort) || dstPort < 1 || dstPort > 65535) {
    return null;
  }
  if (transport !== "tcp" && transport !== "udp") return null;
  return { destination, dstPort, transport };
}

export function encodePortMapAnswer(answer: PortMapAnswer): Uint8Array {
  return encoder.encode(JSON.stringify(answer) + "\n");
}

export function decodePortMapAnswer(line: Uint8Array): PortMapAnswer | null {
  try {
    const value = JSON.parse(decoder.decode(line));
    if (value?.ok === true) return { ok: true };
    if (value?.ok === false && typeof value.error === "string") {
      return { ok: false, error: value.error };
    }
  } catch { /* not JSON */ }
  return null;
}

/** A datagram with its 2-byte big-endian length in front. */
export function frameDatagram(payload: Uint8Array): Uint8Array {
  if (payload.length > PORT_MAP_MAX_DATAGRAM_BYTES) {
    throw new RangeError(`Cannot frame datagram: at most 65535 bytes, received ${payload.length}`);
  }
  const out = new Uint8Array(2 + payload.length);
  out[0] = payload.length >> 8;
  out[1] = payload.length & 0xff;
  out.set(payload, 2);
  return out;
}

/**
 * Splits complete datagrams off the front of a byte stream.
 *
 * @returns the datagrams and the bytes left over for the next read
 */
export function unframeDatagrams(
  buffer: Uint8Array,
): { datagrams: Uint8Array[]; rest: Uint8Array } {
  const datagrams: Uint8Array[] = [];
  let offset = 0;
  while (buffer.length - offset >= 2) {
    const length = (buffer[offset] << 8) | buffer[offset + 1];
    if (buffer.length - offset - 2 < length) break;
    datagrams.push(buffer.slice(offset + 2, offset + 2 + length));
    offset += 2 + length;
  }
  return { datagrams, rest: buffer.slice(offset) };
}

/** The framed datagrams that arrive on `conn`, in order, until EOF (a partial frame is dropped). */
export async function* readDatagrams(
  conn: { read(buffer: Uint8Array): Promise<number | null> },
): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(2 + PORT_MAP_MAX_DATAGRAM_BYTES);
  let pending: Uint8Array = new Uint8Array(0);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) return;
    const joined = new Uint8Array(pending.length + n);
    joined.set(pending);
    joined.set(buffer.subarray(0, n), pending.length);
    const { datagrams, rest } = unframeDatagrams(joined);
    pending = rest;
    yield* datagrams;
  }
}

/**
 * Reads one newline-terminated line from `conn`, byte-exact: nothing after the newline is
 * consumed, so the stream that follows stays intact.
 *
 * @returns the line without its newline, or null on EOF or when longer than the limit
 */
export async function readPortMapLine(
  conn: { read(buffer: Uint8Array): Promise<number | null> },
): Promise<Uint8Array | null> {
  const line = new Uint8Array(PORT_MAP_MAX_LINE_BYTES);
  const one = new Uint8Array(1);
  for (let length = 0; length < PORT_MAP_MAX_LINE_BYTES; length++) {
    const n = await conn.read(one);
    if (n === null) return null;
    if (one[0] === 10) return line.slice(0, length);
    line[length] = one[0];
  }
  return null;
}
