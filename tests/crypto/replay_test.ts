import { assert, assertEquals } from "../_support/assert.ts";
import { REPLAY_WINDOW_SIZE, ReplayWindow } from "../../src/crypto/replay.ts";

const LIMIT = Number.MAX_SAFE_INTEGER;

Deno.test("the replay window is at least 2048 bits", () => {
  assert(REPLAY_WINDOW_SIZE >= 2048);
});

Deno.test("ReplayWindow accepts each counter once, in order or out of order within the window", () => {
  const window = new ReplayWindow();
  assert(window.accept(0, LIMIT));
  assertEquals(window.accept(0, LIMIT), false);
  for (const counter of [5, 3, 4, 1, 2, 100, 50, 99]) assert(window.accept(counter, LIMIT));
  for (const counter of [5, 3, 4, 1, 2, 100, 50, 99]) {
    assertEquals(window.check(counter, LIMIT), false);
    assertEquals(window.accept(counter, LIMIT), false);
  }
  assert(window.check(6, LIMIT));
});

Deno.test("ReplayWindow accepts a counter exactly at the window edge and refuses one past it", () => {
  const window = new ReplayWindow();
  const top = 100_000;
  assert(window.accept(top, LIMIT));
  assert(window.check(top - REPLAY_WINDOW_SIZE, LIMIT));
  assert(window.accept(top - REPLAY_WINDOW_SIZE, LIMIT));
  assertEquals(window.check(top - REPLAY_WINDOW_SIZE - 1, LIMIT), false);
  assertEquals(window.accept(top - REPLAY_WINDOW_SIZE - 1, LIMIT), false);
});

Deno.test("ReplayWindow handles big jumps: old bits are cleared, old counters refused", () => {
  const window = new ReplayWindow();
  for (let i = 0; i < 64; i++) assert(window.accept(i, LIMIT));
  assert(window.accept(2 ** 40, LIMIT));
  assertEquals(window.accept(63, LIMIT), false); // far too old now
  // Counters that map to the same ring slots as the old ones are fresh.
  assert(window.accept(2 ** 40 - 1, LIMIT));
  assert(window.accept(2 ** 40 + 8192, LIMIT));
  assert(window.accept(2 ** 40 + 8192 - 32, LIMIT));
  assert(window.accept(2 ** 52 + 7, LIMIT));
  assertEquals(window.accept(2 ** 52 + 7, LIMIT), false);
});

Deno.test("ReplayWindow check() never changes the window and refuses counters at the limit", () => {
  const window = new ReplayWindow();
  assert(window.check(10, LIMIT));
  assert(window.check(10, LIMIT));
  assertEquals(window.check(10, 10), false);
  assertEquals(window.accept(10, 10), false);
});

Deno.test("ReplayWindow agrees with a naive set-based filter on random traffic", () => {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const window = new ReplayWindow();
  const seen = new Set<number>();
  let top = -1;
  for (let i = 0; i < 50_000; i++) {
    const base = Math.max(0, top);
    const r = rand();
    const counter = r < 0.05
      ? base + Math.floor(rand() * 20_000) // jump ahead
      : Math.max(0, base - Math.floor(rand() * (REPLAY_WINDOW_SIZE + 200)) + 5);
    const expected = !seen.has(counter) &&
      (top < 0 || counter > top || top - counter <= REPLAY_WINDOW_SIZE);
    assertEquals(window.accept(counter, LIMIT), expected, `counter ${counter}, top ${top}`);
    if (expected) {
      seen.add(counter);
      top = Math.max(top, counter);
    }
  }
});
