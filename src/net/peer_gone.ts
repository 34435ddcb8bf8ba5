// Which errors mean "the other end went away" (a client that aborted, a reset, a broken pipe):
// the normal end of a connection as far as an operator is concerned, logged at debug without a
// stack, never at error. Deno's own error classes and node:http's codes ("aborted" is
// ECONNRESET there) both count.

/** node:net / node:http error codes for a peer that closed or reset the connection. */
const PEER_GONE_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ECONNABORTED",
  "ENOTCONN",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** Whether `error` only says that the peer closed, reset or aborted the connection. */
export function isPeerGone(error: unknown): boolean {
  if (
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.UnexpectedEof
  ) {
    return true;
  }
  if (error === null || typeof error !== "object") return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && PEER_GONE_CODES.has(code);
}

/** One line for a debug log: the error's message, never its stack. */
export function peerGoneText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
