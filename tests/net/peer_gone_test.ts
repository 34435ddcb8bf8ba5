// Which errors mean the peer went away: Deno's error classes and node's codes, nothing else.
import { assertEquals } from "../_support/assert.ts";
import { isPeerGone, peerGoneText } from "../../src/net/peer_gone.ts";

Deno.test("isPeerGone() knows resets, broken pipes and node's aborts, and nothing else", () => {
  const gone = [
    new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)"),
    new Deno.errors.BrokenPipe("Broken pipe (os error 32)"),
    new Deno.errors.ConnectionAborted("aborted"),
    new Deno.errors.UnexpectedEof("peer closed connection without sending TLS close_notify"),
    Object.assign(new Error("aborted"), { code: "ECONNRESET" }),
    Object.assign(new Error("write EPIPE"), { code: "EPIPE" }),
  ];
  for (const error of gone) assertEquals(isPeerGone(error), true, String(error));
  const real = [
    new Error("boom"),
    new TypeError("x is undefined"),
    new Deno.errors.ConnectionRefused("refused"),
    Object.assign(new Error("no such file"), { code: "ENOENT" }),
    "ECONNRESET",
    null,
  ];
  for (const error of real) assertEquals(isPeerGone(error), false, String(error));
  const text = peerGoneText(Object.assign(new Error("aborted"), { code: "ECONNRESET" }));
  assertEquals(text, "Error: aborted");
});
