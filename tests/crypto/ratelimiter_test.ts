// Handshake rate limiting under load: the token bucket per source IP on its own (injected time),
// then inside WgInterface, where it refuses mac2-valid handshakes before any Diffie-Hellman.

import { assertEquals } from "../_support/assert.ts";
import {
  HANDSHAKE_BURST,
  HandshakeRateLimiter,
  HANDSHAKES_PER_SECOND,
  RATE_LIMIT_FORGET_AFTER_MS,
} from "../../src/crypto/ratelimiter.ts";
import { REKEY_TIMEOUT_JITTER_MAX_MS, REKEY_TIMEOUT_MS } from "../../src/crypto/constants.ts";
import { ENDPOINT_A, ENDPOINT_B, ipv4, makePair, take, tickAll } from "./_pair.ts";

const INTERVAL_MS = 1000 / HANDSHAKES_PER_SECOND;

function drawUntilRefused(limiter: HandshakeRateLimiter, source: string, now: number): number {
  let allowed = 0;
  while (limiter.allow(source, now) && allowed < 1000) allowed++;
  return allowed;
}

Deno.test("HandshakeRateLimiter allows a burst of 5 from one address, then 20 per second", () => {
  const limiter = new HandshakeRateLimiter();
  assertEquals(HANDSHAKE_BURST, 5);
  assertEquals(HANDSHAKES_PER_SECOND, 20);
  assertEquals(drawUntilRefused(limiter, "192.0.2.1", 1000), HANDSHAKE_BURST);
  // Refilled at one token per 50 ms: nothing just before, one at the interval.
  assertEquals(limiter.allow("192.0.2.1", 1000 + INTERVAL_MS - 1), false);
  assertEquals(limiter.allow("192.0.2.1", 1000 + INTERVAL_MS), true);
  assertEquals(limiter.allow("192.0.2.1", 1000 + INTERVAL_MS), false);
  // Over one steady second (after the burst), 20 get through.
  let allowed = 0;
  for (let t = 1000 + INTERVAL_MS + 1; t <= 2000 + INTERVAL_MS; t++) {
    if (limiter.allow("192.0.2.1", t)) allowed++;
  }
  assertEquals(allowed, HANDSHAKES_PER_SECOND);
  // A long pause refills only up to the burst.
  assertEquals(drawUntilRefused(limiter, "192.0.2.1", 60_000), HANDSHAKE_BURST);
});

Deno.test("HandshakeRateLimiter keeps one bucket per address, IPv4 and IPv6 alike", () => {
  const limiter = new HandshakeRateLimiter();
  assertEquals(drawUntilRefused(limiter, "192.0.2.1", 0), HANDSHAKE_BURST);
  assertEquals(drawUntilRefused(limiter, "192.0.2.2", 0), HANDSHAKE_BURST);
  assertEquals(drawUntilRefused(limiter, "2001:db8::1", 0), HANDSHAKE_BURST);
  assertEquals(limiter.allow("192.0.2.1", 0), false);
  assertEquals(limiter.size, 3);
});

Deno.test("HandshakeRateLimiter forgets buckets idle for over a second, sweeping at most once a second", () => {
  const limiter = new HandshakeRateLimiter();
  limiter.allow("192.0.2.1", 0);
  limiter.allow("192.0.2.2", 600);
  assertEquals(limiter.size, 2);
  limiter.sweep(RATE_LIMIT_FORGET_AFTER_MS + 1); // .1 is idle for over a second, .2 not yet
  assertEquals(limiter.size, 1);
  limiter.sweep(RATE_LIMIT_FORGET_AFTER_MS + 700); // .2 is idle now, but a sweep ran < 1 s ago
  assertEquals(limiter.size, 1);
  limiter.allow("192.0.2.3", 2 * RATE_LIMIT_FORGET_AFTER_MS + 1); // allow() sweeps when due
  assertEquals(limiter.size, 1);
  // A forgotten address starts again with a full burst.
  assertEquals(drawUntilRefused(limiter, "192.0.2.1", 5000), HANDSHAKE_BURST);
});

Deno.test("under load, initiations with a valid mac2 beyond the burst are refused as UnderLoad", () => {
  const pair = makePair();
  const out = new Uint8Array(2048);
  const first = take(pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 0), out);
  pair.b.wg.setUnderLoad(true);
  // Under load: a cookie reply first, then every retransmission carries a valid mac2.
  const reply = pair.b.wg.decapsulate(first, ENDPOINT_A, out, 0);
  assertEquals(reply.length, 64);
  assertEquals(pair.a.wg.decapsulate(take(reply, out), ENDPOINT_B, out, 0).action, "done");
  const retries: Uint8Array[] = [];
  let now = 0;
  while (retries.length < HANDSHAKE_BURST + 1) {
    now += REKEY_TIMEOUT_MS + REKEY_TIMEOUT_JITTER_MAX_MS;
    pair.advanceWall(REKEY_TIMEOUT_MS + REKEY_TIMEOUT_JITTER_MAX_MS);
    retries.push(...tickAll(pair.a, now));
  }
  // All arrive at B within one instant: the burst passes the limiter (the first is answered, the
  // next ones are refused by the per-peer flood check after the DH), the one after it does not.
  const errors = retries.slice(0, HANDSHAKE_BURST + 1).map((retry) => {
    const step = pair.b.wg.decapsulate(retry, ENDPOINT_A, out, now); // the Step is reused: read now
    return step.action === "error" ? step.error : step.action;
  });
  assertEquals(errors, [
    "toNetwork",
    ...new Array(HANDSHAKE_BURST - 1).fill("FloodedInitiation"),
    "UnderLoad",
  ]);
  // Without load the same datagram is not rate-limited (it reaches the flood check after the DH).
  pair.b.wg.setUnderLoad(false);
  assertEquals(
    pair.b.wg.decapsulate(retries[HANDSHAKE_BURST], ENDPOINT_A, out, now).error,
    "FloodedInitiation",
  );
  pair.b.wg.setUnderLoad(true);
  // Later the bucket has refilled and a fresh initiation is answered again.
  now += REKEY_TIMEOUT_MS + REKEY_TIMEOUT_JITTER_MAX_MS;
  pair.advanceWall(REKEY_TIMEOUT_MS + REKEY_TIMEOUT_JITTER_MAX_MS);
  const later = tickAll(pair.a, now);
  assertEquals(later.length, 1);
  assertEquals(pair.b.wg.decapsulate(later[0], ENDPOINT_A, out, now).length, 92);
});
