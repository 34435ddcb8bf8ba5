// The hub's side of a WebSocket (RFC 6455) on a connection the control listener accepted:
// the opening handshake's answer, then frames in and out. Every frame's size is read from its
// header and a message over the cap is refused (close 1009) before a byte of its payload is
// buffered, so a peer cannot make the hub hold more than the cap per connection. Clients must
// mask; control frames are answered (ping -> pong, close -> close); no extensions.

import { createHash } from "node:crypto";
import { closeQuietly, concat, writeAll } from "../net/mod.ts";

const HANDSHAKE_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
export const WS_NORMAL = 1000;
export const WS_PROTOCOL_ERROR = 1002;
export const WS_INVALID_DATA = 1007;
export const WS_MESSAGE_TOO_BIG = 1009;

const OP_CONTINUATION = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2;
const OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xa;
const READ_CHUNK_BYTES = 4096;

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`. */
export function acceptKey(clientKey: string): string {
  return createHash("sha1").update(clientKey + HANDSHAKE_GUID).digest("base64");
}

/** What an agent session needs from its socket. */
export interface SessionSocket {
  readonly isOpen: boolean;
  send(text: string): void;
  close(code: number, reason: string): void;
  /** A whole message: text as a string, binary as bytes. */
  onmessage: ((data: string | Uint8Array) => void) | null;
  /** Called once, however the socket ended. */
  onclose: ((code: number, reason: string) => void) | null;
}

/** One server-side WebSocket over an upgraded connection. Call `start()` to read. */
export class ServerWebSocket implements SessionSocket {
  onmessage: ((data: string | Uint8Array) => void) | null = null;
  onclose: ((code: number, reason: string) => void) | null = null;
  readonly #conn: Deno.Conn;
  readonly #maxMessageBytes: number;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  #writing: Promise<void> = Promise.resolve();
  #state: "open" | "closing" | "closed" = "open";

  /**
   * @param leftover bytes read past the handshake's head (the first frames, if any)
   * @param maxMessageBytes largest message accepted, fragments together
   */
  constructor(conn: Deno.Conn, leftover: Uint8Array, maxMessageBytes: number) {
    this.#conn = conn;
    this.#maxMessageBytes = maxMessageBytes;
    this.#buffer = new Uint8Array(Math.max(READ_CHUNK_BYTES, leftover.length));
    this.#buffer.set(leftover);
    this.#end = leftover.length;
  }

  get isOpen(): boolean {
    return this.#state === "open";
  }

  /** Reads frames until the socket ends; resolves then. */
  async start(): Promise<void> {
    let code = 1006, reason = "";
    try {
      [code, reason] = await this.#readLoop();
    } catch {
      // reset, timeout or a half-read frame: an abnormal close (1006)
    }
    this.#finish(code, reason);
  }

  send(text: string): void {
    if (this.#state !== "open") return;
    this.#write(frame(OP_TEXT, new TextEncoder().encode(text)));
  }

  /**
   * Sends a close frame, then ends the connection gracefully: our side is shut, and what the
   * peer still sends is read and thrown away (into one small buffer, for at most a moment)
   * so that closing does not reset the connection and lose the close frame on its way.
   */
  close(code: number, reason: string): void {
    if (this.#state !== "open") return;
    this.#state = "closing";
    this.#write(closeFrame(code, reason));
    this.#writing.then(() => this.#conn.closeWrite()).then(() => drain(this.#conn)).catch(
      () => {},
    ).finally(() => closeQuietly(this.#conn));
    this.#finish(code, reason);
  }

  #finish(code: number, reason: string): void {
    if (this.#state === "closed") return;
    if (this.#state === "open") closeQuietly(this.#conn);
    this.#state = "closed";
    const onclose = this.onclose;
    this.onclose = null;
    onclose?.(code, reason);
  }

  #write(bytes: Uint8Array): void {
    this.#writing = this.#writing.then(() => writeAll(this.#conn, bytes)).catch(() => {
      closeQuietly(this.#conn);
    });
  }

  /** @returns the close code and reason the peer sent, or ours when we refused a frame */
  async #readLoop(): Promise<[number, string]> {
    let message: Uint8Array[] = [];
    let messageBytes = 0;
    let messageOp = -1;
    while (this.#state === "open") {
      // 1. The header: FIN, opcode, mask bit, length (7, 16 or 64 bits), masking key.
      const [b0, b1] = await this.#take(2);
      const fin = (b0 & 0x80) !== 0, op = b0 & 0x0f;
      if ((b0 & 0x70) !== 0 || (b1 & 0x80) === 0) {
        return this.#refuse(WS_PROTOCOL_ERROR, "unmasked frame or reserved bits");
      }
      let length = b1 & 0x7f;
      if (length === 126) {
        const ext = await this.#take(2);
        length = (ext[0] << 8) | ext[1];
      } else if (length === 127) {
        const ext = await this.#take(8);
        const high = ((ext[0] << 24) | (ext[1] << 16) | (ext[2] << 8) | ext[3]) >>> 0;
        const low = ((ext[4] << 24) | (ext[5] << 16) | (ext[6] << 8) | ext[7]) >>> 0;
        length = high > 0 ? Infinity : low;
      }
      // 2. The size check, before any payload is read.
      if (op >= OP_CLOSE) {
        if (!fin || length > 125) return this.#refuse(WS_PROTOCOL_ERROR, "bad control frame");
      } else if (messageBytes + length > this.#maxMessageBytes) {
        return this.#refuse(WS_MESSAGE_TOO_BIG, "message too big");
      }
      const mask = await this.#take(4);
      const payload = await this.#take(length);
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      // 3. Control frames answer at once, even between a message's fragments.
      if (op === OP_CLOSE) {
        const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        const reason = new TextDecoder().decode(payload.subarray(2));
        this.#state = "closing";
        this.#write(closeFrame(code === 1005 ? WS_NORMAL : code, ""));
        await this.#writing;
        closeQuietly(this.#conn);
        return [code, reason];
      }
      if (op === OP_PING) {
        this.#write(frame(OP_PONG, payload));
        continue;
      }
      if (op === OP_PONG) continue;
      // 4. Data frames: a message starts with text or binary, continues with continuation.
      if (
        op === OP_CONTINUATION
          ? messageOp < 0
          : (op !== OP_TEXT && op !== OP_BINARY) || messageOp >= 0
      ) {
        return this.#refuse(WS_PROTOCOL_ERROR, "unexpected frame");
      }
      if (op !== OP_CONTINUATION) messageOp = op;
      message.push(payload);
      messageBytes += payload.length;
      if (!fin) continue;
      const whole = message.length === 1 ? message[0] : concat(message);
      const kind = messageOp;
      message = [];
      messageBytes = 0;
      messageOp = -1;
      if (kind === OP_TEXT) {
        let text: string;
        try {
          text = new TextDecoder("utf-8", { fatal: true }).decode(whole);
        } catch {
          return this.#refuse(WS_INVALID_DATA, "text frame is not UTF-8");
        }
        this.onmessage?.(text);
      } else this.onmessage?.(whole);
    }
    return [WS_NORMAL, ""];
  }

  #refuse(code: number, reason: string): [number, string] {
    this.close(code, reason);
    return [code, reason];
  }

  /** Exactly `n` bytes (a fresh array), reading as needed. @throws at EOF */
  async #take(n: number): Promise<Uint8Array> {
    while (this.#end - this.#start < n && this.#end - this.#start < this.#buffer.length) {
      if (this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      if (this.#end === this.#buffer.length) break;
      const read = await this.#conn.read(this.#buffer.subarray(this.#end));
      if (read === null) throw new Error("connection closed");
      this.#end += read;
    }
    const out = new Uint8Array(n);
    const have = Math.min(n, this.#end - this.#start);
    out.set(this.#buffer.subarray(this.#start, this.#start + have));
    this.#start += have;
    // A payload larger than the buffer is read straight into its own array.
    let filled = have;
    while (filled < n) {
      const read = await this.#conn.read(out.subarray(filled));
      if (read === null) throw new Error("connection closed");
      filled += read;
    }
    return out;
  }
}

const DRAIN_MS = 1_000;

/** Reads and discards until EOF or DRAIN_MS, whichever comes first. */
async function drain(conn: Deno.Conn): Promise<void> {
  const scratch = new Uint8Array(READ_CHUNK_BYTES);
  const deadline = Date.now() + DRAIN_MS;
  const timer = setTimeout(() => closeQuietly(conn), DRAIN_MS);
  try {
    while (Date.now() < deadline && await conn.read(scratch) !== null) { /* discard */ }
  } finally {
    clearTimeout(timer);
  }
}

function frame(op: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const headerBytes = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = new Uint8Array(headerBytes + length);
  out[0] = 0x80 | op;
  if (length < 126) out[1] = length;
  else if (length < 65536) {
    out[1] = 126;
    out[2] = length >> 8;
    out[3] = length & 0xff;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(length));
  }
  out.set(payload, headerBytes);
  return out;
}

function closeFrame(code: number, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason).subarray(0, 123);
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return frame(OP_CLOSE, payload);
}
