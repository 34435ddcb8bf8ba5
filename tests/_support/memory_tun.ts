// An in-memory TUN for device tests without root (as wireguard-go's tun/tuntest): the test plays
// the kernel. Packets the test `inject`s are what the device reads from its TUN; packets the
// device writes arrive in `delivered`. MemoryDevice (memory_device.ts) wires it to an Engine.

/** One in-memory TUN: two packet queues, one per direction. */
export class MemoryTun {
  /** Packets waiting for the device to read them (kernel -> device). */
  readonly outbound: Uint8Array[] = [];
  /** Packets the device wrote (device -> kernel), oldest first. */
  readonly delivered: Uint8Array[] = [];

  /** Queues `packet` as if an application had sent it into the interface. */
  inject(packet: Uint8Array): void {
    this.outbound.push(packet.slice());
  }

  /** The device's write: a copy of `buffer[0…length)` is delivered. */
  write(buffer: Uint8Array, length: number): void {
    this.delivered.push(buffer.slice(0, length));
  }

  /** Takes the oldest delivered packet, or undefined. */
  take(): Uint8Array | undefined {
    return this.delivered.shift();
  }
}
