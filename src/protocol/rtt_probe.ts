// The in-tunnel RTT probe (PROTOCOL.md section 2, "Peer health"), answered by the hub and by
// every site agent: a 13-byte request (magic, type 1, timestamp) comes back as type 2.

import { PROBE_LENGTH, PROBE_MAGIC, PROBE_REPLY, PROBE_REQUEST } from "./control.ts";

/** The reply to a probe, or null when `datagram` is not a probe request. Pure. */
export function answerProbe(datagram: Uint8Array): Uint8Array | null {
  if (datagram.length !== PROBE_LENGTH) return null;
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  if (view.getUint32(0) !== PROBE_MAGIC || datagram[4] !== PROBE_REQUEST) return null;
  const reply = datagram.slice();
  reply[4] = PROBE_REPLY;
  return reply;
}
