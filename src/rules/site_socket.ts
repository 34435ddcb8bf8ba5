// Socket-level helpers of the agent's relays and site engine: which errors mean the peer went
// away, and turning Nagle's algorithm off.

import { HttpWireError, isPeerGone } from "../net/mod.ts";

/** Errors that mean the peer went away (or spoke garbage); they end a connection quietly. */
export function isConnectionError(error: unknown): boolean {
  return isPeerGone(error) ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof HttpWireError ||
    (error instanceof Error && error.name === "InvalidData");
}

/**
 * Turns Nagle's algorithm off: requests and answers are small writes that must leave at once
 * (with it on, each one waits for the peer's delayed ACK, about 40 ms).
 */
export function noDelay<T extends Deno.Conn>(conn: T): T {
  try {
    (conn as unknown as Deno.TcpConn).setNoDelay?.(true);
  } catch {
    // Not a TCP socket (or closed already): nothing to tune.
  }
  return conn;
}
