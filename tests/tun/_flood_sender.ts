// The attacker of flood_bench.ts, run inside a namespace: sends mac1-valid handshake initiations
// (random bodies, so each costs the target a Diffie-Hellman unless it is under load) with junk
// datagrams between them, at a fixed rate, and counts the cookie replies that come back. Prints
// one JSON line: {"initiations", "junk", "cookies"}.
//
// Usage: deno run -A --unstable-net _flood_sender.ts BIND_ADDRESS TARGET_ADDRESS TARGET_PORT
//        TARGET_PUBLIC_KEY_BASE64 SECONDS INITIATIONS_PER_SECOND JUNK_PER_INITIATION

import { keyFromBase64 } from "../../src/curve25519/mod.ts";
import { INITIATION_BYTES, MESSAGE_INITIATION } from "../../src/crypto/wire_messages.ts";
import { CookieGenerator } from "../../src/crypto/cookie.ts";

const [bind, target, port, publicKey, seconds, rate, junkPer] = Deno.args;
const TICK_MS = 10;
const POOL = 1024;

const macs = new CookieGenerator(keyFromBase64(publicKey)!);
const initiations: Uint8Array[] = [];
for (let i = 0; i < POOL; i++) {
  const initiation = crypto.getRandomValues(new Uint8Array(INITIATION_BYTES));
  initiation.set([MESSAGE_INITIATION, 0, 0, 0]);
  macs.addMacs(initiation, 0);
  initiations.push(initiation);
}
// Junk: noise that is no WireGuard message, and transport data under an index nobody holds.
const noise = crypto.getRandomValues(new Uint8Array(100));
noise[0] = 0x45; // an IPv4-looking first byte: type 69, foreign
const junk = [noise, Uint8Array.from([4, 0, 0, 0, ...crypto.getRandomValues(new Uint8Array(60))])];

const socket = Deno.listenDatagram({ transport: "udp", hostname: bind, port: 0 });
const to: Deno.NetAddr = { transport: "udp", hostname: target, port: Number(port) };
let cookies = 0;
const receiving = (async () => {
  try {
    for await (const [data] of socket) if (data[0] === 3 && data.length === 64) cookies++;
  } catch { /* closed */ }
})();

const perTick = Number(rate) * TICK_MS / 1000;
const junkPerInitiation = Number(junkPer);
const end = performance.now() + Number(seconds) * 1000;
let sentInitiations = 0, sentJunk = 0, due = 0;
const started = performance.now();
while (performance.now() < end) {
  due = Math.floor((performance.now() - started) / 1000 * Number(rate));
  const sends: Promise<number>[] = [];
  while (sentInitiations < due && sends.length < perTick * 4 * (1 + junkPerInitiation)) {
    for (let j = 0; j < junkPerInitiation; j++) {
      sends.push(socket.send(junk[sentJunk++ % junk.length], to));
    }
    sends.push(socket.send(initiations[sentInitiations++ % POOL], to));
  }
  await Promise.allSettled(sends);
  await new Promise((resolve) => setTimeout(resolve, TICK_MS));
}
await new Promise((resolve) => setTimeout(resolve, 500)); // late cookie replies
socket.close();
await receiving;
console.log(JSON.stringify({ initiations: sentInitiations, junk: sentJunk, cookies }));
