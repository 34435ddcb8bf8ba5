// A small stand-in for `burrow hub` speaking PROTOCOL.md sections 1-3 on loopback: login
// (200/401/403), the WebSocket with register -> connect, ping -> pong, pushes of peer messages,
// terminate, drops for reconnect tests, and an in-tunnel probe responder on UDP. Also runs
// as a script (`deno run fake_hub.ts PORT [CERT KEY]`) for tests that need it in a namespace.

import { createSocket, type Socket } from "node:dgram";
import { decodeProbe, encodeProbe } from "../../src/session/peer_probe.ts";
import {
  type Frame,
  LOGIN_PATH,
  MSG,
  PROBE_REPLY,
  PROBE_REQUEST,
  WS_PATH,
} from "../../src/protocol/control.ts";
import type { SiteConfig } from "../../src/protocol/control.ts";

export interface FakeHubOptions {
  clients?: Record<string, string>;
  /** Orgs a login may name; any when absent. An unknown org is answered 403. */
  orgs?: string[];
  tunnelIP?: string;
  /** Sites sent in olm/wg/connect; built by default around the probe responder. */
  sites?: SiteConfig[];
  port?: number;
  hostname?: string;
  tls?: { cert: string; key: string };
  /** Whether to answer olm/ping with pong. @default true */
  answerPings?: boolean;
}

export interface ReceivedFrame extends Frame {
  socket: number;
}

/** A recognisable WireGuard public key (32 bytes of 0x11) for fake sites. */
export const FAKE_SITE_KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(0x11)));

export class FakeHub {
  readonly received: ReceivedFrame[] = [];
  readonly logins: { olmId: string; orgId?: string }[] = [];
  registrations = 0;
  answerPings: boolean;
  /** While true, logins get 503 (a hub that is down but not refusing). */
  unavailable = false;
  /** While true, each socket is closed (1009, as for a frame over the limit) once registered. */
  closeAfterRegister = false;
  /** Ports handed out by burrow/ports/allocate and not released. */
  readonly allocated = new Set<number>();
  /** Every port released by burrow/ports/release. */
  readonly released: number[] = [];
  #nextPort = 22001;
  sites: SiteConfig[];
  /** `exitNodes` of the login answer (the hub's WireGuard key); none by default. */
  exitNodes: { publicKey: string; endpoint: string; relayPort: number }[] = [];
  tunnelIP: string;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #probe: Socket;
  readonly #sockets = new Map<number, WebSocket>();
  readonly #options: FakeHubOptions;
  readonly #tokens = new Map<string, string>();
  #nextSocket = 0;

  private constructor(options: FakeHubOptions, probe: Socket, probePort: number) {
    this.#options = options;
    this.#probe = probe;
    this.answerPings = options.answerPings ?? true;
    this.tunnelIP = options.tunnelIP ?? "100.89.128.3/20";
    this.sites = options.sites ?? [fakeSite(10, "Site A", probePort - 1)];
    const serve = options.tls ? { cert: options.tls.cert, key: options.tls.key } : {};
    this.#server = Deno.serve({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      onListen: () => {},
      ...serve,
    }, (request) => this.#handle(request));
  }

  /** Starts the hub and its probe responder on 127.0.0.1. */
  static async start(options: FakeHubOptions = {}): Promise<FakeHub> {
    const probe = createSocket("udp4");
    probe.on("message", (message: Uint8Array, remote: { address: string; port: number }) => {
      const parsed = decodeProbe(new Uint8Array(message));
      if (parsed?.type !== PROBE_REQUEST) return;
      probe.send(encodeProbe(PROBE_REPLY, parsed.timestampNs), remote.port, remote.address);
    });
    await new Promise<void>((resolve) => probe.bind(0, "127.0.0.1", () => resolve()));
    return new FakeHub(options, probe, probe.address().port);
  }

  get port(): number {
    return this.#server.addr.port;
  }

  get endpoint(): string {
    return `${this.#options.tls ? "https" : "http"}://127.0.0.1:${this.port}`;
  }

  /** Frames of `type` received so far. */
  frames(type: string): ReceivedFrame[] {
    return this.received.filter((f) => f.type === type);
  }

  openSockets(): number {
    return [...this.#sockets.values()].filter((s) => s.readyState === WebSocket.OPEN).length;
  }

  /** Sends a frame to every open agent socket. */
  send(type: string, data: unknown): void {
    for (const socket of this.#sockets.values()) {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type, data }));
    }
  }

  /** Sends raw text (or bytes) to every open socket. */
  sendRaw(data: string | Uint8Array): void {
    for (const socket of this.#sockets.values()) {
      if (socket.readyState === WebSocket.OPEN) socket.send(data as string);
    }
  }

  /** Closes every agent socket, as a hub restart would. */
  dropAll(): void {
    for (const socket of this.#sockets.values()) socket.close(1012, "restarting");
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets.values()) {
      try {
        socket.close();
      } catch { /* closing already */ }
    }
    await this.#server.shutdown();
    await new Promise<void>((resolve) => this.#probe.close(() => resolve()));
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === LOGIN_PATH && request.method === "POST") {
      if (this.unavailable) return new Response("down", { status: 503 });
      const body = await request.json().catch(() => ({}));
      const clients = this.#options.clients ?? {};
      this.logins.push({ olmId: body.olmId, orgId: body.orgId });
      if (!body.olmId || clients[body.olmId] !== body.secret) {
        return Response.json({
          success: false,
          error: true,
          message: "invalid id or secret",
          status: 401,
          data: null,
        }, { status: 401 });
      }
      if (body.orgId && this.#options.orgs && !this.#options.orgs.includes(body.orgId)) {
        return Response.json({ success: false, error: true, message: "no such org", status: 403 }, {
          status: 403,
        });
      }
      const token = crypto.randomUUID();
      this.#tokens.set(token, body.olmId);
      return Response.json({
        success: true,
        error: false,
        message: "ok",
        status: 200,
        data: { token, serverVersion: "fake", exitNodes: this.exitNodes },
      });
    }
    if (url.pathname === WS_PATH) {
      const token = url.searchParams.get("token") ?? "";
      if (!this.#tokens.has(token) || url.searchParams.get("clientType") !== "olm") {
        return new Response("unauthorized", { status: 401 });
      }
      const { socket, response } = Deno.upgradeWebSocket(request);
      const id = ++this.#nextSocket;
      this.#sockets.set(id, socket);
      socket.onmessage = (event) => this.#onFrame(socket, id, JSON.parse(String(event.data)));
      socket.onclose = () => this.#sockets.delete(id);
      return response;
    }
    if (url.pathname === "/_fake/received") return Response.json(this.received);
    return new Response("not found", { status: 404 });
  }

  #onFrame(socket: WebSocket, id: number, frame: Frame): void {
    this.received.push({ ...frame, socket: id });
    const data = (frame.data ?? {}) as Record<string, unknown>;
    const reply = (type: string, payload: unknown) =>
      socket.send(JSON.stringify({ type, data: payload }));
    switch (frame.type) {
      case MSG.register:
        this.registrations++;
        reply(MSG.connect, {
          sites: this.sites,
          tunnelIP: this.tunnelIP,
          utilitySubnet: "100.96.128.0/20",
          chainId: data.chainId,
        });
        if (this.closeAfterRegister) socket.close(1009, "frame too large");
        return;
      case MSG.ping:
        if (this.answerPings) reply(MSG.pong, { timestamp: Date.now() });
        return;
      case MSG.portsAllocate: {
        const port = this.#nextPort++;
        this.allocated.add(port);
        reply(MSG.portsAllocated, { requestId: data.requestId, port });
        return;
      }
      case MSG.portsRelease:
        if (this.allocated.delete(data.port as number)) {
          this.released.push(data.port as number);
          reply(MSG.portsReleased, { requestId: data.requestId, port: data.port });
          return;
        }
        reply(MSG.burrowError, {
          requestId: data.requestId,
          code: "not_found",
          message: "no such port",
        });
        return;
      case MSG.portsList:
        reply(MSG.portsListed, { requestId: data.requestId, ports: [...this.allocated] });
        return;
      case MSG.rulesSync:
        reply(MSG.rulesApplied, { requestId: data.requestId, revision: data.revision });
        return;
      case "burrow/test/silent":
        return;
    }
  }
}

/** A site whose server address is loopback, so probes reach the fake hub's responder. */
export function fakeSite(siteId: number, name: string, serverPort: number): SiteConfig {
  return {
    siteId,
    name,
    endpoint: "127.0.0.1:51820",
    publicKey: FAKE_SITE_KEY,
    serverIP: "127.0.0.1",
    serverPort,
    remoteSubnets: ["10.77.0.0/24"],
    aliases: [{ alias: "db.internal", aliasAddress: "100.96.128.7" }],
  };
}

if (import.meta.main) {
  const [port, cert, key] = Deno.args;
  const hub = await FakeHub.start({
    port: Number(port),
    hostname: "0.0.0.0",
    clients: { "31frd0uzbjvp721": "h51mmlknrvrwv8s4r1i210azhumt6isgbpyavxodibx1k2d6" },
    ...(cert
      ? { tls: { cert: Deno.readTextFileSync(cert), key: Deno.readTextFileSync(key) } }
      : {}),
  });
  console.log(`fake hub on ${hub.port}`);
}
