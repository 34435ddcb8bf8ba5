// One accept loop for every listener burrow serves (local API, hub control port, hub ingress,
// the agent's tunnel listeners): an accept error such as EMFILE, ENFILE or ENOMEM never ends it.
// The loop waits (5 ms doubling to 1 s) for connections to close and accepts again; only closing
// the listener ends it.

/** Shortest wait after a failed accept. */
export const ACCEPT_RETRY_MIN_MS = 5;
/** Longest wait after a failed accept. */
export const ACCEPT_RETRY_MAX_MS = 1000;

export interface AcceptOptions {
  /** Whether the owner has closed the listener: an error then ends the loop quietly. */
  closed?: () => boolean;
  /** Told of each failed accept and how long the loop waits before the next one. */
  onRetry?: (error: unknown, retryInMs: number) => void;
  /** Waits `ms` (an owner that closes may cut the wait short). @default setTimeout */
  wait?: (ms: number) => Promise<void>;
}

/**
 * The connections `listener` accepts, until it is closed.
 *
 * @example
 * ```ts
 * for await (const conn of acceptConnections(listener, { onRetry: (e, ms) => log.warn(...) })) {
 *   serve(conn);
 * }
 * ```
 */
export async function* acceptConnections<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  options: AcceptOptions = {},
): AsyncGenerator<C> {
  const closed = options.closed ?? (() => false);
  const wait = options.wait ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let retryMs = 0;
  while (!closed()) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (closed() || isListenerGone(error)) return;
      retryMs = Math.min(ACCEPT_RETRY_MAX_MS, Math.max(ACCEPT_RETRY_MIN_MS, retryMs * 2));
      options.onRetry?.(error, retryMs);
      await wait(retryMs);
      continue;
    }
    retryMs = 0;
    yield conn;
  }
}

function isListenerGone(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}
