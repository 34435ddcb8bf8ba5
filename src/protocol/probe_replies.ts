// The answers to burrow's two probes, shared by the hub and every agent (PROTOCOL.md section 2,
// "Peer health"): the in-tunnel RTT probe (a 13-byte request, magic, type 1 and a timestamp,
// comes back as type 2), and the reachability test on the WireGuard socket
// ("PANGOLIN_TEST_REQ" + 8 bytes comes back as "PANGOLIN_TEST_RSP" + the same 8 bytes). Pure.

import {
  PROBE_LENGTH,
  PROBE_MAGIC,
  PROBE_REPLY,
  PROBE_REQUEST,
  TEST_REQUEST_PREFIX,
  TEST_RESPONSE_PREFIX,
} from "./control.ts";

const TEST_REQUEST = new TextEncoder().encode(TEST_REQUEST_PREFIX);
const TEST_RESPONSE = new TextEncoder().encode(TEST_RESPONSE_PREFIX);
/** The random bytes after a test's prefix, echoed in the response. */
export const TEST_NONCE_BYTES = 8;

/** The reply to a probe, or null when `datagram` is not a probe request. */
export function answerProbe(datagram: Uint8Array): Uint8Array | null {
  if (datagram.length !== PROBE_LENGTH) return null;
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  if (view.getUint32(0) !== PROBE_MAGIC || datagram[4] !== PROBE_REQUEST) return null;
  const reply = datagram.slice();
  reply[4] = PROBE_REPLY;
  return reply;
}

/** The response to a reachability test, or null when `datagram` is not one. */
export function answerTestRequest(datagram: Uint8Array): Uint8Array | null {
  if (datagram.length !== TEST_REQUEST.length + TEST_NONCE_BYTES) return null;
  for (let i = 0; i < TEST_REQUEST.length; i++) if (datagram[i] !== TEST_REQUEST[i]) return null;
  const reply = new Uint8Array(datagram.length);
  reply.set(TEST_RESPONSE, 0);
  reply.set(datagram.subarray(TEST_REQUEST.length), TEST_RESPONSE.length);
  return reply;
}

/** A reachability test with `nonce` (8 bytes). */
export function testRequest(nonce: Uint8Array): Uint8Array {
  const datagram = new Uint8Array(TEST_REQUEST.length + TEST_NONCE_BYTES);
  datagram.set(TEST_REQUEST);
  datagram.set(nonce.subarray(0, TEST_NONCE_BYTES), TEST_REQUEST.length);
  return datagram;
}

/** The nonce of a reachability test's response, or null when `datagram` is not one. */
export function testResponseNonce(datagram: Uint8Array): Uint8Array | null {
  if (datagram.length !== TEST_RESPONSE.length + TEST_NONCE_BYTES) return null;
  for (let i = 0; i < TEST_RESPONSE.length; i++) if (datagram[i] !== TEST_RESPONSE[i]) return null;
  return datagram.subarray(TEST_RESPONSE.length);
}
