// One agent's control WebSocket on the hub (PROTOCOL.md sections 2-3): frames in (JSON, or
// gzip within the frame cap), answers out in arrival order; registration, pings, port
// allocation and release, and rules sync, each validated before it touches the store.

import { z } from "../schema/mod.ts";
import {
  type BurrowErrorMessage,
  type ConnectMessage,
  describeIssues,
  type Frame,
  MSG,
  parseRulesSync,
} from "../protocol/mod.ts";
import { readStreamCapped } from "../net/mod.ts";
import { log } from "../log/mod.ts";
import { StoreConflict } from "./client_store.ts";
import { keyFromBase64 } from "../curve25519/mod.ts";
import type { HubControlContext } from "./control_plane.ts";
import { type SessionSocket, WS_MESSAGE_TOO_BIG } from "./websocket_server.ts";

/** Close code of a session whose client was removed. */
export const WS_TERMINATED = 4001;

const requestIdSchema = z.union([z.string().max(128), z.number()]);
const registerSchema = z.looseObject({
  publicKey: z.string().refine((text) => keyFromBase64(text) !== null, {
    message: "publicKey must be a base64 WireGuard key",
  }),
  chainId: z.string().max(256).optional(),
  /** Olm's `relay`: true when the agent does not hole-punch (every path relayed). */
  relay: z.boolean().optional(),
  olmVersion: z.string().max(64).optional(),
});
const portsRequestSchema = z.looseObject({ requestId: requestIdSchema });
const portReleaseSchema = z.looseObject({
  requestId: requestIdSchema,
  port: z.number().int().min(1).max(65535),
});

/** How a session is bounded, and who hears of its end. */
export interface SessionOptions {
  /** Largest message after gzip inflation (the socket caps frames before that). */
  maxFrameBytes: number;
  idleTimeoutMs: number;
  onClose(session: AgentSession): void;
}

/** One agent's WebSocket: frames in, answers out, in arrival order. */
export class AgentSession {
  readonly #socket: SessionSocket;
  readonly #ctx: HubControlContext;
  readonly #options: SessionOptions;
  readonly #log;
  #queue: Promise<void> = Promise.resolve();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #lastTouch = 0;
  /** Set once `olm/wg/connect` was sent. */
  registered = false;
  /** Whether the agent registered with `relay: false` (it hole-punches). */
  holepunch = false;

  constructor(
    readonly clientId: string,
    /** The org the session runs in (chosen at login). */
    readonly org: string,
    socket: SessionSocket,
    ctx: HubControlContext,
    options: SessionOptions,
  ) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#options = options;
    this.#log = log.with({ clientId });
    this.#log.info("agent session open");
    this.#armIdle();
    socket.onmessage = (data) => {
      this.#armIdle();
      this.#touch();
      // Frames are handled one after the other so answers keep the order of requests.
      this.#queue = this.#queue.then(() => this.#receive(data)).catch((error) => {
        this.#log.error("frame handling failed", { error });
        this.send({ type: MSG.serverError, data: { message: "internal error" } });
      });
    };
    socket.onclose = () => this.#finish();
  }

  send(frame: Frame): void {
    if (!this.#socket.isOpen) return;
    this.#socket.send(JSON.stringify(frame));
  }

  close(code: number, reason: string): void {
    try {
      this.#socket.close(code, reason);
    } catch { /* already closing */ }
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    this.#log.info("agent session closed");
    this.#options.onClose(this);
  }

  // lastSeen for `hub client list`: at most one write a minute per agent.
  #touch(): void {
    const now = Date.now();
    if (now - this.#lastTouch < 60_000) return;
    this.#lastTouch = now;
    this.#ctx.store.touchClient(this.clientId);
  }

  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    if (this.#closed) return;
    this.#idleTimer = setTimeout(
      () => this.close(1001, "idle: no message received"),
      this.#options.idleTimeoutMs,
    );
  }

  async #receive(data: string | Uint8Array): Promise<void> {
    if (this.#closed) return;
    let text: string;
    if (typeof data === "string") text = data;
    else {
      // Binary frames carry gzip-compressed JSON, as the server side may send them too. The
      // socket already refused frames over the cap; inflation is capped here.
      const inflated = await gunzipCapped(data, this.#options.maxFrameBytes);
      if (inflated === "too big") return this.close(WS_MESSAGE_TOO_BIG, "message too big");
      if (inflated === null) return this.#error("binary frames must be gzip-compressed JSON");
      text = inflated;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return this.#error("frame is not JSON");
    }
    if (
      !frame || typeof frame !== "object" || typeof (frame as Frame).type !== "string"
    ) {
      return this.#error('frame must be an object with a string "type"');
    }
    await this.#dispatch(frame as Frame);
  }

  #error(message: string, type?: string): void {
    this.send({ type: MSG.serverError, data: { message, ...(type ? { type } : {}) } });
  }

  #burrowError(requestId: unknown, code: string, message: string): void {
    const data: BurrowErrorMessage = {
      requestId: typeof requestId === "string" || typeof requestId === "number"
        ? requestId as string
        : "",
      code,
      message,
    };
    this.send({ type: MSG.burrowError, data });
  }

  async #dispatch(frame: Frame): Promise<void> {
    const data = frame.data ?? {};
    switch (frame.type) {
      case MSG.register:
        return await this.#register(data);
      case MSG.ping:
        return this.send({ type: MSG.pong, data: { timestamp: Date.now() } });
      case MSG.disconnecting:
        return this.close(1000, "agent disconnecting");
      case MSG.relay:
      case MSG.unrelay: {
        // The agent moved a site's traffic to the relay or back to the direct path: confirm
        // with olm/wg/peer/relay or olm/wg/peer/unrelay (Olm's exchange).
        const siteId = (data as { siteId?: unknown }).siteId;
        if (typeof siteId !== "number") return this.#error("siteId must be a number", frame.type);
        const answer = this.#ctx.resources?.answerRelay(
          this.clientId,
          siteId,
          frame.type === MSG.relay,
        );
        if (answer) this.send(answer);
        return;
      }
      case MSG.portsAllocate:
        return this.#allocate(data);
      case MSG.portsRelease:
        return this.#release(data);
      case MSG.portsList:
        return this.#list(data);
      case MSG.rulesSync:
        return this.#sync(data);
      default:
        return this.#error(`unknown message type ${JSON.stringify(frame.type.slice(0, 64))}`);
    }
  }

  async #register(data: unknown): Promise<void> {
    const parsed = registerSchema.safeParse(data);
    if (!parsed.success) {
      return this.send({
        type: MSG.error,
        data: { code: "bad_register", message: describeIssues(parsed.error) },
      });
    }
    const { store } = this.#ctx;
    const before = store.getClient(this.clientId);
    if (!before) return this.close(WS_TERMINATED, "client removed");
    let tunnelIP: string;
    try {
      store.setPublicKey(this.clientId, parsed.data.publicKey);
      tunnelIP = store.assignTunnelIp(this.clientId, this.#ctx.tunnelCidr, this.#ctx.hubTunnelIP);
    } catch (error) {
      if (!(error instanceof StoreConflict)) throw error;
      return this.send({ type: MSG.error, data: { code: error.code, message: error.message } });
    }
    const previousKey = before.publicKey !== parsed.data.publicKey ? before.publicKey : null;
    this.holepunch = parsed.data.relay === false;
    await this.#ctx.attachPeer(parsed.data.publicKey, tunnelIP, previousKey);
    // Routes know agents by tunnel address, not by key: only a new address changes them.
    if (before.tunnelIP !== tunnelIP) this.#ctx.ingressChanged();
    const bits = this.#ctx.tunnelCidr.split("/")[1];
    const connect: ConnectMessage = {
      sites: [
        this.#ctx.site(),
        ...this.#ctx.resources?.sitesAtRegistration(this.clientId, this.org, this.holepunch) ??
          [],
      ],
      tunnelIP: `${tunnelIP}/${bits}`,
      utilitySubnet: this.#ctx.utilitySubnet,
      chainId: parsed.data.chainId ?? "",
    };
    store.markOnline(this.clientId, parsed.data.olmVersion ?? "");
    this.#log.info("agent registered", { tunnelIP, org: this.org });
    this.send({ type: MSG.connect, data: connect });
    this.registered = true;
    this.#ctx.resources?.changedSoon();
  }

  #allocate(data: unknown): void {
    const parsed = portsRequestSchema.safeParse(data);
    if (!parsed.success) return this.#burrowError(undefined, "bad_request", "requestId required");
    const { requestId } = parsed.data;
    const quota = this.#ctx.portsPerAgent;
    if (this.#ctx.store.portCount(this.clientId) >= quota) {
      return this.#burrowError(
        requestId,
        "port_quota",
        `port quota reached: this hub allows ${quota} ports per agent; release one first`,
      );
    }
    const port = this.#ctx.store.allocatePort(
      this.clientId,
      this.#ctx.portRange,
      (candidate) => this.#ctx.openPort(candidate),
    );
    if (port === null) {
      return this.#burrowError(requestId, "no_ports", "no free port left in the hub's range");
    }
    this.#ctx.ingressChanged();
    this.#log.info("port allocated", { port });
    this.send({ type: MSG.portsAllocated, data: { requestId, port } });
  }

  #release(data: unknown): void {
    const parsed = portReleaseSchema.safeParse(data);
    if (!parsed.success) {
      const requestId = (data as { requestId?: unknown })?.requestId;
      return this.#burrowError(requestId, "bad_request", describeIssues(parsed.error));
    }
    const { requestId, port } = parsed.data;
    if (!this.#ctx.store.releasePort(this.clientId, port)) {
      return this.#burrowError(requestId, "not_allocated", `port ${port} is not allocated to you`);
    }
    this.#ctx.closePort(port);
    this.#ctx.ingressChanged();
    this.#log.info("port released", { port });
    this.send({ type: MSG.portsReleased, data: { requestId, port } });
  }

  #list(data: unknown): void {
    const parsed = portsRequestSchema.safeParse(data);
    if (!parsed.success) return this.#burrowError(undefined, "bad_request", "requestId required");
    const ports = this.#ctx.store.portsOf(this.clientId);
    this.send({ type: MSG.portsListed, data: { requestId: parsed.data.requestId, ports } });
  }

  #sync(data: unknown): void {
    const parsed = parseRulesSync(data);
    if (!parsed.ok) return this.#burrowError(parsed.requestId, "bad_rules", parsed.message);
    const { requestId, revision, rules } = parsed;
    const { https, ports, portmaps } = rules;
    try {
      this.#ctx.store.applyRules(
        this.clientId,
        revision,
        https.map((rule) => rule.domain),
        ports.map((rule) => rule.port),
        JSON.stringify(rules),
      );
    } catch (error) {
      if (!(error instanceof StoreConflict)) throw error;
      return this.#burrowError(requestId, error.code, error.message);
    }
    this.#ctx.ingressChanged();
    this.#log.info("rules applied", {
      revision,
      domains: https.length,
      ports: ports.length,
      portmaps: portmaps.length,
    });
    this.send({ type: MSG.rulesApplied, data: { requestId, revision } });
  }
}

async function gunzipCapped(bytes: Uint8Array, limit: number): Promise<string | null | "too big"> {
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    const inflated = await readStreamCapped(stream, limit);
    if (inflated === null) return "too big";
    return new TextDecoder("utf-8", { fatal: true }).decode(inflated);
  } catch {
    return null;
  }
}
