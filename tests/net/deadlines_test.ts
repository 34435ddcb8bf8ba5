// The shared deadline clock of the agent's kept-alive connections: a deadline fires once when it
// passed while armed, never after a disarm, and the shared interval runs only while one is armed
// (the test sanitizer fails a test that leaves it running). A fake clock: no timing.
import { assertEquals } from "../_support/assert.ts";
import { DeadlineClock } from "../../src/net/deadlines.ts";

Deno.test("DeadlineClock fires a passed deadline once, and none that was disarmed", () => {
  let now = 1_000;
  const clock = new DeadlineClock(1000, () => now);
  const fired: string[] = [];
  const a = clock.deadline(() => fired.push("a"));
  const b = clock.deadline(() => fired.push("b"));
  a.arm(5_000);
  b.arm(10_000);
  assertEquals(clock.armed, 2);
  now += 4_999;
  clock.sweep();
  assertEquals(fired, []);
  now += 1;
  clock.sweep();
  assertEquals(fired, ["a"]);
  // Disarmed before its time: never fires, and with nothing armed the interval is gone.
  b.disarm();
  now += 60_000;
  clock.sweep();
  assertEquals(fired, ["a"]);
  assertEquals(clock.armed, 0);
});

Deno.test("DeadlineClock: re-arming restarts the countdown; a throwing expiry spares the rest", () => {
  let now = 0;
  const clock = new DeadlineClock(1000, () => now);
  const fired: string[] = [];
  const a = clock.deadline(() => {
    fired.push("a");
    throw new Error("boom");
  });
  const b = clock.deadline(() => fired.push("b"));
  a.arm(1_000);
  b.arm(1_000);
  now = 900;
  b.arm(1_000); // a new request on b's connection: due at 1_900 now
  now = 1_000;
  clock.sweep();
  assertEquals(fired, ["a"]);
  now = 1_900;
  clock.sweep();
  assertEquals(fired, ["a", "b"]);
  assertEquals(clock.armed, 0);
});
