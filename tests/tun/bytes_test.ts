// The per-packet byte helpers (src/tun/bytes.ts): copies below and above the loop bound land
// exactly where asked and nowhere else, and 64-bit fields match what DataView's BigInt accessors
// write and read (the kernel's size_t and pointers, little-endian).

import { assertEquals } from "../_support/assert.ts";
import { copyBytes, getUint64, setUint64 } from "../../src/tun/bytes.ts";

Deno.test("copyBytes copies a range to an offset, short (a loop) and long (set)", () => {
  for (const length of [0, 1, 4, 28, 128, 129, 1420]) {
    const from = Uint8Array.from({ length: length + 20 }, (_, i) => (i * 7 + 3) & 0xff);
    const into = new Uint8Array(length + 40).fill(0xee);
    copyBytes(into, 11, from, 5, length);
    assertEquals(into.subarray(11, 11 + length), from.subarray(5, 5 + length), `length ${length}`);
    assertEquals([...into.subarray(0, 11)].every((b) => b === 0xee), true, "before untouched");
    assertEquals([...into.subarray(11 + length)].every((b) => b === 0xee), true, "after untouched");
  }
});

Deno.test("setUint64 and getUint64 agree with DataView's BigInt accessors", () => {
  const values = [0, 1, 28, 0xffffffff, 0x100000000, 2 ** 40 + 5, 0x7fe26c30ce30, 2 ** 53 - 1];
  for (const value of values) {
    const view = new DataView(new ArrayBuffer(24));
    view.setUint32(0, 0xdeadbeef, true);
    view.setUint32(20, 0xdeadbeef, true);
    setUint64(view, 4, value);
    assertEquals(view.getBigUint64(4, true), BigInt(value), `written ${value}`);
    assertEquals(view.getUint32(0, true), 0xdeadbeef, "neighbours untouched");
    assertEquals(view.getUint32(20, true), 0xdeadbeef, "neighbours untouched");
    view.setBigUint64(12, BigInt(value), true);
    assertEquals(getUint64(view, 12), value, `read ${value}`);
  }
});
