// Helpers for hub tests: an in-process hub on loopback with a fake tunnel device (no root),
// whose tunnel dials are mapped to loopback servers, and a WebSocket client speaking PROTOCOL.md.

import { FakeDevice } from "../_support/fake_device.ts";
import { generatePrivateKey, keyToBase64, publicKeyOf } from "../../src/curve25519/mod.ts";
import { Hub, type HubConfig } from "../../src/hub/hub.ts";
import {
  CSRF_HEADER,
  CSRF_VALUE,
  type Frame,
  LOGIN_PATH,
  WS_PATH,
} from "../../src/protocol/control.ts";

/** Where dials to `tunnelIP:port` go in a test: a loopback port, or a function that hangs. */
export type DialMap = Map<string, number | "hang">;

/**
 * Starts a hub on loopback with a fake device. Dials to agent tunnel addresses go through
 * `dialMap` (key `IP:PORT`); unknown keys are refused like a closed port.
 */
export async function startTestHub(
  stateDir: string,
  dialMap: DialMap = new Map(),
  overrides: Partial<HubConfig> = {},
): Promise<Hub & { fakeDevice: FakeDevice }> {
  let device: FakeDevice | null = null;
  const hub = await Hub.start({
    stateDir,
    listen: { hostname: "127.0.0.1", port: 0 },
    publicHost: "127.0.0.1",
    wgPort: 51820,
    tunnelCidr: "100.89.128.0/20",
    portRange: { first: 0, last: 0 },
    httpPort: 0,
    httpsPort: 0,
    ingressHost: "127.0.0.1",
    tunnelServices: false,
    watchIntervalMs: 50,
    tunnel: (options) => Promise.resolve(device = new FakeDevice(options)),
    dial: (tunnelIP, port, signal) => {
      const target = dialMap.get(`${tunnelIP}:${port}`);
      if (target === "hang") {
        return new Promise((_, reject) => {
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      }
      if (target === undefined) return Promise.reject(new Deno.errors.ConnectionRefused("no"));
      return Deno.connect({ hostname: "127.0.0.1", port: target, signal });
    },
    ...overrides,
  });
  return Object.assign(hub, { fakeDevice: device! });
}

export async function login(
  base: string,
  body: unknown,
  headers: Record<string, string> = { [CSRF_HEADER]: CSRF_VALUE },
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(base + LOGIN_PATH, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

/** A WebSocket agent for tests: frames in a queue, request/answer by requestId. */
export class TestAgent {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: (() => void)[] = [];
  #nextId = 1;

  private constructor(readonly socket: WebSocket) {
    socket.onmessage = (event) => {
      this.frames.push(JSON.parse(event.data as string));
      for (const wake of this.#waiters.splice(0)) wake();
    };
    this.closed = new Promise((resolve) => {
      socket.onclose = (event) => {
        resolve({ code: event.code, reason: event.reason });
        for (const wake of this.#waiters.splice(0)) wake();
      };
    });
  }

  static async connect(base: string, id: string, secret: string): Promise<TestAgent> {
    const { status, json } = await login(base, { olmId: id, secret });
    if (status !== 200) throw new Error(`login failed: ${status}`);
    const token = (json.data as { token: string }).token;
    const url = base.replace(/^http/, "ws") + `${WS_PATH}?token=${token}&clientType=olm`;
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error("WebSocket failed"));
    });
    return new TestAgent(socket);
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Waits for the first unread frame matching `predicate`. */
  async next(predicate: (frame: Frame) => boolean, timeoutMs = 3000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const index = this.frames.findIndex(predicate);
      if (index >= 0) return this.frames.splice(index, 1)[0];
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error("socket closed");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a frame");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends a burrow request and returns the answer (or burrow/error) with the same requestId. */
  async request(type: string, data: Record<string, unknown> = {}): Promise<Frame> {
    const requestId = `r${this.#nextId++}`;
    this.send({ type, data: { requestId, ...data } });
    return await this.next((f) => (f.data as { requestId?: string })?.requestId === requestId);
  }

  /** Registers a fresh WireGuard key and returns the olm/wg/connect data. */
  async register(publicKey = keyToBase64(publicKeyOf(generatePrivateKey()))) {
    this.send({
      type: "olm/wg/register",
      data: {
        publicKey,
        relay: false,
        olmVersion: "test",
        olmAgent: "test",
        orgId: "",
        chainId: "c1",
      },
    });
    const frame = await this.next((f) => f.type === "olm/wg/connect" || f.type === "olm/error");
    return { frame, publicKey };
  }

  async close(): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) {
      this.socket.close();
      await this.closed;
    }
  }
}
