// Two in-process WgInterfaces wired to each other: A (10.0.0.1, fd00::1) and B (10.0.0.2, fd00::2).
import { type Endpoint, type Peer, type Step, WgInterface } from "../../src/crypto/mod.ts";
import type { TransportAead } from "../../src/crypto/aead.ts";

/** Deterministic "random" so tests are reproducible (never use outside tests). */
export function seededRandom(seed: number): (dst: Uint8Array) => void {
  let state = seed >>> 0 || 1;
  return (dst) => {
    for (let i = 0; i < dst.length; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      dst[i] = state & 0xff;
    }
  };
}

export const ENDPOINT_A: Endpoint = { address: "192.0.2.1", port: 51820 };
export const ENDPOINT_B: Endpoint = { address: "192.0.2.2", port: 51821 };

export interface Side {
  wg: WgInterface;
  peer: Peer; // the other side, as seen from here
  endpoint: Endpoint; // our own address
}

export function makePair(
  options: { aead?: TransportAead; psk?: Uint8Array; wallStart?: number } = {},
) {
  let wall = options.wallStart ?? 1_700_000_000_000;
  const wallClock = () => wall;
  const a = new WgInterface({ random: seededRandom(1), aead: options.aead, wallClock });
  const b = new WgInterface({ random: seededRandom(2), aead: options.aead, wallClock });
  const keyA = new Uint8Array(32).fill(0x11);
  const keyB = new Uint8Array(32).fill(0x22);
  a.setPrivateKey(keyA, 0);
  b.setPrivateKey(keyB, 0);
  const peerB = a.upsertPeer(b.publicKey!, 0);
  const peerA = b.upsertPeer(a.publicKey!, 0);
  peerB.endpoint = ENDPOINT_B;
  peerA.endpoint = ENDPOINT_A;
  if (options.psk) peerA.presharedKey = peerB.presharedKey = options.psk;
  a.allowedIps.insert("10.0.0.2/32", peerB);
  a.allowedIps.insert("fd00::2/128", peerB);
  b.allowedIps.insert("10.0.0.1/32", peerA);
  b.allowedIps.insert("fd00::1/128", peerA);
  return {
    a: { wg: a, peer: peerB, endpoint: ENDPOINT_A } as Side,
    b: { wg: b, peer: peerA, endpoint: ENDPOINT_B } as Side,
    advanceWall(ms: number) {
      wall += ms;
    },
  };
}

/** A minimal IPv4 packet from `src` to `dst` with `payload` bytes after the 20-byte header. */
export function ipv4(src: string, dst: string, payload = 8): Uint8Array {
  const packet = new Uint8Array(20 + payload);
  packet[0] = 0x45;
  packet[2] = packet.length >> 8;
  packet[3] = packet.length & 0xff;
  packet[9] = 17;
  packet.set(src.split(".").map(Number), 12);
  packet.set(dst.split(".").map(Number), 16);
  for (let i = 20; i < packet.length; i++) packet[i] = i & 0xff;
  return packet;
}

/** A minimal IPv6 packet (`fd00::N` addresses). */
export function ipv6(srcLast: number, dstLast: number, payload = 8): Uint8Array {
  const packet = new Uint8Array(40 + payload);
  packet[0] = 0x60;
  packet[4] = payload >> 8;
  packet[5] = payload & 0xff;
  packet[6] = 17;
  packet[8] = 0xfd;
  packet[23] = srcLast;
  packet[24] = 0xfd;
  packet[39] = dstLast;
  return packet;
}

/** A copy of what a Step wrote. */
export function take(step: Step, out: Uint8Array): Uint8Array {
  return out.slice(0, step.length);
}

/** Runs tick() until done, collecting every datagram sent. */
export function tickAll(side: Side, now: number): Uint8Array[] {
  const out = new Uint8Array(2048);
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) {
    const step = side.wg.tick(out, now);
    if (step.action === "done") return sent;
    if (step.action === "toNetwork") sent.push(take(step, out));
  }
  throw new Error("tick() did not settle");
}

/**
 * Delivers `datagram` to `to` (coming from `from`) and then follows every reply back and forth,
 * flushing staged packets, until quiet. Returns what reached each TUN.
 */
export function deliver(
  datagram: Uint8Array,
  from: Side,
  to: Side,
  now: number,
  tun: { a: Uint8Array[]; b: Uint8Array[] } | null = null,
  sides?: { a: Side; b: Side },
): void {
  const out = new Uint8Array(2048);
  const queue: Array<{ bytes: Uint8Array; from: Side; to: Side }> = [{
    bytes: datagram,
    from,
    to,
  }];
  for (let n = 0; queue.length > 0 && n < 100; n++) {
    const item = queue.shift()!;
    const step = item.to.wg.decapsulate(item.bytes, item.from.endpoint, out, now);
    if (step.action === "toNetwork") {
      queue.push({ bytes: take(step, out), from: item.to, to: item.from });
    } else if (step.action === "toTunnel" && tun && sides) {
      (item.to === sides.a ? tun.a : tun.b).push(take(step, out));
    }
    if (step.action !== "error" && step.peer) {
      for (let k = 0; k < 200; k++) {
        const flushed = item.to.wg.flush(step.peer, out, now);
        if (flushed.action === "done") break;
        if (flushed.action === "toNetwork") {
          queue.push({ bytes: take(flushed, out), from: item.to, to: item.from });
        }
      }
    }
  }
}
