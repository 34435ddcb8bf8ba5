// The pool of bulk-copy buffers: a buffer given back is the one taken next, at most `keep` are
// held, and a buffer of another size is never taken in.
import { assert, assertEquals } from "../_support/assert.ts";
import { BufferPool } from "../../src/net/buffer_pool.ts";

Deno.test("BufferPool reuses given-back buffers and keeps at most `keep`", () => {
  const pool = new BufferPool(1024, 2);
  const [a, b, c] = [pool.take(), pool.take(), pool.take()];
  assertEquals([a.length, b.length, c.length], [1024, 1024, 1024]);
  assert(a !== b && b !== c);
  pool.give(a);
  pool.give(b);
  pool.give(c); // past `keep`: left to the collector
  assertEquals(pool.free, 2);
  assert(pool.take() === b);
  assert(pool.take() === a);
  pool.give(new Uint8Array(10)); // not one of its size
  assertEquals(pool.free, 0);
});

Deno.test("BufferPool.takeWithinKeep() lends at most `keep` at once, and again once given back", () => {
  const pool = new BufferPool(64, 2);
  const a = pool.takeWithinKeep();
  const b = pool.takeWithinKeep();
  assert(a !== null && b !== null);
  assertEquals(pool.lent, 2);
  assertEquals(pool.takeWithinKeep(), null);
  pool.give(a);
  assertEquals(pool.lent, 1);
  assert(pool.takeWithinKeep() === a);
  pool.give(a);
  pool.give(b);
  assertEquals([pool.lent, pool.free], [0, 2]);
});
