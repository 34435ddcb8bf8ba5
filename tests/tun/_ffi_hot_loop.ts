// Run by ffi_deopt_test.ts under --trace-deopt: the device's per-packet FFI calls in a hot loop,
// as the engine Worker makes them (libsodium seal and open, UDP reads and sends through
// FdSource, the poll over every descriptor, the wake eventfd). With "control" it instead passes
// plain numbers as size_t, as the device did before, to show the trace catches that.

import { FdSource, FdSources, openWakeFd, signalWake } from "../../src/tun/fd_source.ts";
import { closeLibc, libc, sizeArg } from "../../src/tun/libc.ts";
import { PacketRing } from "../../src/tun/pool.ts";
import { closeUdpSockets, encodeSockaddr, openUdpSockets } from "../../src/tun/udp.ts";
import { loadSodium } from "../../src/tun/aead_sodium.ts";

const control = Deno.args[0] === "control";
const ROUNDS = 20_000;
const sodium = loadSodium();
if (!sodium) {
  console.log("NO-SODIUM");
  Deno.exit(0);
}
const sender = openUdpSockets(0), receiver = openUdpSockets(0);
const wake = openWakeFd();
const fds = new FdSources(wake);
const source = new FdSource("udp", receiver.fd4, PacketRing.create(64, 2048).buffer);
fds.replaceUdp([source]);
const to = encodeSockaddr({ address: "127.0.0.1", port: receiver.port });
const key = new Uint8Array(32), nonce = new Uint8Array(12);
const packet = new Uint8Array(1500), sealed = new Uint8Array(1516), opened = new Uint8Array(1500);
/** The control's call: a number where size_t is declared. */
const sendtoNumber = libc().sendto as unknown as (...args: unknown[]) => number;

function round(i: number): number {
  const length = 60 + (i % 1400);
  const plain = packet.subarray(0, length);
  const sealedLength = sodium!.seal(key, nonce, null, plain, sealed);
  const n = control
    ? sendtoNumber(sender.fd4, sealed, sealedLength, 0, to, to.length)
    : libc().sendto(sender.fd4, sealed, sizeArg(sealedLength), 0, to, to.length);
  if (i % 32 === 0) signalWake(wake);
  fds.wait(0, true);
  fds.read();
  const ring = source.ring;
  let checked = 0;
  while (ring.available() > 0) {
    const index = ring.index(ring.tail());
    const offset = ring.dataOffset(index);
    const data = ring.bytes.subarray(offset, offset + ring.length(index));
    checked += sodium!.open(key, nonce, null, data, opened);
    ring.release(1);
  }
  ring.rewindIfEmpty();
  return n + checked;
}

let total = 0;
for (let i = 0; i < ROUNDS; i++) total += round(i);
closeUdpSockets(sender);
closeUdpSockets(receiver);
sodium.close();
closeLibc();
console.log(`DONE ${total > 0}`);
