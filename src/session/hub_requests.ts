// burrow's request/answer extension on the hub WebSocket: each request carries a fresh
// `requestId`, the hub's answer echoes it, and the pending request is resolved (or rejected
// with the hub's `burrow/error`, a timeout, or the socket closing).

import { type Frame, MSG } from "../protocol/mod.ts";
import { errorSchema } from "./hub_messages.ts";

/** A burrow extension request that failed: `burrow/error`, a timeout or no connection. */
export class SessionRequestError extends Error {
  override name = "SessionRequestError";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

interface Pending {
  resolve(frame: Frame): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** The requests sent on one session and not answered yet, matched to answers by `requestId`. */
export class HubRequests {
  readonly #pending = new Map<string, Pending>();

  /**
   * Sends `type` with a fresh `requestId` through `send` and waits for the answer echoing it.
   *
   * @returns the answering frame (its `data` carries the `requestId`)
   * @throws {SessionRequestError} `timeout`, or what {@linkcode answer}/{@linkcode rejectAll} say
   */
  send(
    type: string,
    data: Record<string, unknown>,
    timeoutMs: number,
    send: (frame: Frame) => void,
  ): Promise<Frame> {
    const requestId = crypto.randomUUID();
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new SessionRequestError("timeout", `no answer to ${type} from the hub`));
      }, timeoutMs);
      this.#pending.set(requestId, { resolve, reject, timer });
      send({ type, data: { ...data, requestId } });
    });
  }

  /** Resolves a pending request; true when the frame was its answer. */
  answer(frame: Frame): boolean {
    const data = frame.data as { requestId?: unknown } | null;
    const requestId = data && typeof data === "object" ? data.requestId : undefined;
    if (typeof requestId !== "string" && typeof requestId !== "number") return false;
    const pending = this.#pending.get(String(requestId));
    if (!pending) return false;
    this.#pending.delete(String(requestId));
    clearTimeout(pending.timer);
    if (frame.type === MSG.burrowError) {
      const error = errorSchema.safeParse(frame.data);
      pending.reject(
        new SessionRequestError(
          error.success ? error.data.code : "error",
          error.success ? error.data.message : "the hub refused the request",
        ),
      );
    } else {
      pending.resolve(frame);
    }
    return true;
  }

  /** Rejects every pending request with `code` and `message` (the socket closed). */
  rejectAll(code: string, message: string): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new SessionRequestError(code, message));
      this.#pending.delete(id);
    }
  }
}
