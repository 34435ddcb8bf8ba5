// A whole WireGuard device in memory (as wireguard-go's device_test.go genTestPair): the device's
// PacketEngine (src/tun/packet_engine.ts) wired to a MemoryTun and a MemoryUdpSocket, with a
// clock the test sets. No root, no FFI, no Workers: plain `deno test`. `pump` moves everything that is queued
// between devices until the network is quiet; `advance` moves time and fires due timers.

import { type EngineOutput, PacketEngine } from "../../src/tun/packet_engine.ts";
import { UapiApplier } from "../../src/tun/uapi_apply.ts";
import type { UapiPeerChange } from "../../src/tun/uapi.ts";
import type { Endpoint } from "../../src/crypto/mod.ts";
import { generatePrivateKey, keyToBase64 } from "../../src/curve25519/mod.ts";
import { MemoryTun } from "./memory_tun.ts";
import { type MemoryNetwork, memoryUdpPair, type MemoryUdpSocket } from "./memory_udp.ts";

/** Fake Unix time of fake monotonic 0, so handshake timestamps grow with the fake clock. */
const WALL_AT_ZERO_MS = 1_700_000_000_000;
/** Rounds of pump before it gives up: a ping-pong that never settles is a bug. */
const MAX_PUMP_ROUNDS = 10_000;
/** Datagrams one step takes from the socket, as the Worker shell takes from a receive ring. */
export const RECEIVE_BATCH = 32;

/** A fake clock shared by the devices of one test (monotonic ms). */
export class FakeClock {
  constructor(public now = 1000) {}
  wall(): number {
    return WALL_AT_ZERO_MS + this.now;
  }
}

/** One in-memory device: PacketEngine + MemoryTun + a socket on a MemoryNetwork. */
export class MemoryDevice implements EngineOutput {
  readonly engine: PacketEngine;
  readonly uapi: UapiApplier;
  readonly tun = new MemoryTun();
  /** Foreign datagrams the engine let through, in order. */
  readonly foreign: Array<{ data: Uint8Array; from: Endpoint }> = [];

  constructor(
    readonly socket: MemoryUdpSocket,
    readonly clock: FakeClock,
    privateKey: Uint8Array,
    options: { mtu?: number; reportForeign?: boolean } = {},
  ) {
    this.engine = new PacketEngine({
      mtu: options.mtu ?? 1420,
      privateKey,
      listenPort: socket.endpoint.port,
      random: (dst) => crypto.getRandomValues(dst),
      wallClock: () => clock.wall(),
      reportForeign: options.reportForeign ?? true,
      now: clock.now,
    }, this);
    this.uapi = new UapiApplier(this.engine, privateKey);
  }

  get publicKey(): Uint8Array {
    return this.engine.wg.publicKey!;
  }

  /** Adds or updates a peer the way UAPI `set=1` does. */
  setPeer(peer: Partial<UapiPeerChange> & { publicKey: Uint8Array }): void {
    const errno = this.uapi.apply(
      {
        replacePeers: false,
        peers: [{
          remove: false,
          updateOnly: false,
          replaceAllowedIps: true,
          allowedIps: [],
          ...peer,
        }],
      },
      this.socket.endpoint.port,
      false,
      this.clock.now,
    );
    if (errno !== 0) throw new Error(`Cannot set peer ${keyToBase64(peer.publicKey)}: ${errno}`);
  }

  // EngineOutput
  writeTun(buffer: Uint8Array, length: number): void {
    this.tun.write(buffer, length);
  }
  sendUdp(to: Endpoint, buffer: Uint8Array, length: number): void {
    this.socket.send(to, buffer, length);
  }
  foreignDatagram(data: Uint8Array, from: Endpoint): void {
    this.foreign.push({ data: data.slice(), from: { ...from } });
  }

  /**
   * One round of the Worker shell's loop: what waits in the socket (in receive batches of BATCH),
   * then in the TUN, goes to the engine, then a few queued handshakes run, then due timers fire.
   * Returns how much work there was (packets and handshakes).
   */
  step(): number {
    const now = this.clock.now;
    let work = 0;
    const inbox = this.socket.inbox.splice(0, RECEIVE_BATCH);
    for (const datagram of inbox) {
      this.engine.datagramFromNetwork(datagram.data, datagram.from, now);
    }
    work += inbox.length;
    const packets = this.tun.outbound.splice(0);
    for (const packet of packets) this.engine.packetFromTun(packet, now);
    work += packets.length;
    work += this.engine.processHandshakes(now);
    this.tick();
    return work;
  }

  /** Fires the timers that are due now. */
  tick(): void {
    if (this.clock.now >= this.engine.nextDeadline()) this.engine.runTimers(this.clock.now);
  }
}

/** Steps every device until nothing is queued anywhere. */
export function pump(...devices: MemoryDevice[]): void {
  for (let round = 0; round < MAX_PUMP_ROUNDS; round++) {
    let work = 0;
    for (const device of devices) work += device.step();
    if (work === 0) return;
  }
  throw new Error("pump(): the devices did not settle");
}

/** Moves the clock forward in `stepMs` steps, firing due timers and pumping after each. */
export function advance(clock: FakeClock, ms: number, devices: MemoryDevice[], stepMs = 1000) {
  const end = clock.now + ms;
  while (clock.now < end) {
    clock.now = Math.min(end, clock.now + stepMs);
    for (const device of devices) device.tick();
    pump(...devices);
  }
}

/** The outer (UDP) and inner (tunnel) addresses of {@link twoMemoryDevices}. */
export const PAIR = {
  a: { address: "192.0.2.1", port: 51820 },
  b: { address: "198.51.100.2", port: 51821 },
  innerA: "10.9.0.1",
  innerB: "10.9.0.2",
} as const;

/**
 * Devices A and B on one MemoryNetwork and one clock, each the other's peer; A knows B's
 * endpoint, B learns A's from the handshake.
 */
export function twoMemoryDevices(): {
  clock: FakeClock;
  network: MemoryNetwork;
  a: MemoryDevice;
  b: MemoryDevice;
} {
  const clock = new FakeClock();
  const { network, a: socketA, b: socketB } = memoryUdpPair(PAIR.a, PAIR.b);
  const a = new MemoryDevice(socketA, clock, generatePrivateKey());
  const b = new MemoryDevice(socketB, clock, generatePrivateKey());
  a.setPeer({ publicKey: b.publicKey, endpoint: PAIR.b, allowedIps: [`${PAIR.innerB}/32`] });
  b.setPeer({ publicKey: a.publicKey, allowedIps: [`${PAIR.innerA}/32`] });
  return { clock, network, a, b };
}
