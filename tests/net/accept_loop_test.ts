import { assertEquals } from "../_support/assert.ts";
import { acceptConnections } from "../../src/net/mod.ts";

/** A listener whose accept() plays back a script: an error to throw, or a connection. */
function scriptedListener(script: (Error | Deno.Conn)[]): Deno.Listener {
  return {
    accept() {
      const next = script.shift() ?? new Deno.errors.BadResource("closed");
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  } as unknown as Deno.Listener;
}

Deno.test("acceptConnections() retries accept errors with a growing wait and ends when the listener is closed", async () => {
  const conn = { rid: 1 } as unknown as Deno.Conn;
  const emfile = new Error("Too many open files (os error 24)");
  const waits: number[] = [];
  const retries: number[] = [];
  const accepted: Deno.Conn[] = [];
  const listener = scriptedListener([emfile, emfile, emfile, conn, emfile, conn]);
  for await (
    const c of acceptConnections(listener, {
      onRetry: (_error, inMs) => retries.push(inMs),
      wait: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    })
  ) accepted.push(c);
  assertEquals(accepted, [conn, conn], "both connections after the errors are served");
  assertEquals(retries, [5, 10, 20, 5], "the wait doubles, and starts again after a success");
  assertEquals(waits, retries);
});

Deno.test("acceptConnections() ends quietly on any error once its owner has closed", async () => {
  let closed = false;
  const listener = {
    accept() {
      closed = true;
      return Promise.reject(new Error("Too many open files (os error 24)"));
    },
  } as unknown as Deno.Listener;
  let retried = 0;
  for await (
    const _ of acceptConnections(listener, {
      closed: () => closed,
      onRetry: () => retried++,
    })
  ) {
    throw new Error("no connection expected");
  }
  assertEquals(retried, 0);
});
