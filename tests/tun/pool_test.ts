// The packet ring (src/tun/pool.ts): slots are produced and consumed in order, and an empty ring
// rewinds to slot 0, so sporadic packets reuse the first, warm slots instead of walking all of
// them; a ring with anything pending is never rewound.

import { assertEquals } from "../_support/assert.ts";
import { PacketRing } from "../../src/tun/pool.ts";

function produce(ring: PacketRing, lengths: number[]): void {
  const head = ring.head();
  for (const [i, length] of lengths.entries()) ring.setLength(ring.index(head + i), length);
  ring.publish(lengths.length);
}

Deno.test("ring: in order, bounded by its slots", () => {
  const ring = PacketRing.create(4, 64);
  assertEquals(ring.free(), 4);
  produce(ring, [10, 20, 30]);
  assertEquals([ring.available(), ring.free()], [3, 1]);
  assertEquals(ring.length(ring.index(ring.tail())), 10);
  ring.release(1);
  assertEquals(ring.length(ring.index(ring.tail())), 20);
  produce(ring, [40, 50]);
  assertEquals([ring.available(), ring.free()], [4, 0]);
  assertEquals(ring.index(ring.head() - 1), 0, "the fifth packet wrapped to slot 0");
});

Deno.test("ring: rewindIfEmpty starts an empty ring over at slot 0, and leaves a busy one", () => {
  const ring = PacketRing.create(8, 64);
  produce(ring, [1, 2, 3]);
  ring.release(2);
  ring.rewindIfEmpty();
  assertEquals([ring.head(), ring.tail(), ring.available()], [3, 2, 1], "one pending: kept");
  assertEquals(ring.length(ring.index(ring.tail())), 3);
  ring.release(1);
  ring.rewindIfEmpty();
  assertEquals([ring.head(), ring.tail(), ring.available(), ring.free()], [0, 0, 0, 8]);
  produce(ring, [99]);
  assertEquals(ring.index(ring.tail()), 0, "the next packet lands in slot 0 again");
  assertEquals(ring.length(0), 99);
});
