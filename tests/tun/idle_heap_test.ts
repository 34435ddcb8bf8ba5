// An idle engine Worker gives its grown heap back (src/tun/idle_heap.ts): the policy over a
// fake clock and heap, then V8 itself in a child Deno with the launcher's young generation.

import { assert, assertEquals } from "../_support/assert.ts";
import * as burrow from "../_support/burrow.ts";
import {
  IDLE_HEAP_GROWTH_BYTES,
  IDLE_HEAP_PACKETS,
  IDLE_HEAP_WINDOW_MS,
  IdleHeap,
} from "../../src/tun/idle_heap.ts";

function fakeHeap(bytes: number) {
  const state = { bytes, collections: 0 };
  const heap = new IdleHeap(0, () => state.bytes, () => {
    state.collections++;
    state.bytes = 4 << 20;
  });
  return { state, heap };
}

Deno.test("idle heap: collected once at the end of a quiet spell, again only after it grew", () => {
  const { state, heap } = fakeHeap(12 << 20);
  assertEquals(heap.idle(IDLE_HEAP_WINDOW_MS - 1), false, "the spell is not over");
  heap.work(IDLE_HEAP_PACKETS - 1);
  assertEquals(heap.idle(IDLE_HEAP_WINDOW_MS), true);
  assertEquals(state.collections, 1);
  // Quiet, but the heap has not grown by the threshold since: left alone.
  state.bytes += IDLE_HEAP_GROWTH_BYTES - 1;
  assertEquals(heap.idle(2 * IDLE_HEAP_WINDOW_MS), false);
  state.bytes += 1;
  assertEquals(heap.idle(3 * IDLE_HEAP_WINDOW_MS), true);
  assertEquals(state.collections, 2);
});

Deno.test("idle heap: a busy spell is never collected, the quiet one after it is", () => {
  const { state, heap } = fakeHeap(12 << 20);
  heap.work(IDLE_HEAP_PACKETS);
  assertEquals(heap.idle(IDLE_HEAP_WINDOW_MS), false, "a busy spell");
  assertEquals(state.collections, 0);
  heap.work(3);
  assertEquals(heap.idle(2 * IDLE_HEAP_WINDOW_MS), true, "the quiet spell after it");
});

Deno.test("idle heap: without an exposed gc it does nothing", () => {
  const heap = new IdleHeap(0, () => 64 << 20, null);
  assertEquals(heap.idle(IDLE_HEAP_WINDOW_MS * 10), false);
});

Deno.test("idle heap: the launcher exposes gc and caps the young generation", async () => {
  const output = await new Deno.Command("bash", {
    args: ["-c", `source ${burrow.REPO_ROOT}tools/deno.sh && printf '%s\\n' "\${BURROW_FLAGS[@]}"`],
  }).output();
  const v8 = new TextDecoder().decode(output.stdout).split("\n").find((flag) =>
    flag.startsWith("--v8-flags=")
  );
  assert(v8, "the launcher passes V8 flags");
  const flags = v8.slice("--v8-flags=".length).split(",");
  assert(flags.includes("--expose-gc"), v8);
  assert(flags.some((flag) => /^--max-semi-space-size=\d+$/.test(flag)), v8);
});

Deno.test("idle heap: V8 gives a grown heap back in the collection", async () => {
  // A child grows its young generation the way a Worker's start does (most of what it
  // allocates survives), drops it all, and lets IdleHeap collect after a quiet spell.
  const script = `
    import { IdleHeap, IDLE_HEAP_WINDOW_MS } from ${
    JSON.stringify(
      new URL("../../src/tun/idle_heap.ts", import.meta.url).href,
    )
  };
    let kept = [];
    for (let i = 0; i < 400000; i++) kept.push({ i, text: "x" + i });
    kept = null;
    const before = Deno.memoryUsage().heapTotal;
    const heap = new IdleHeap(0);
    const collected = heap.idle(IDLE_HEAP_WINDOW_MS);
    console.log(JSON.stringify({ before, after: Deno.memoryUsage().heapTotal, collected }));
  `;
  const output = await new Deno.Command(burrow.DENO, {
    args: ["eval", "--v8-flags=--max-semi-space-size=4,--expose-gc", script],
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  const { before, after, collected } = JSON.parse(text);
  assertEquals(collected, true);
  assert(before - after >= IDLE_HEAP_GROWTH_BYTES, `heap ${before} -> ${after} bytes`);
});
