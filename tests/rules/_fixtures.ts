// Shared fixtures for the rules tests: a fake hub session, an engine on loopback, and a client
// that connects the way the hub relays (PROXY v2 header first).

import { concat } from "../../src/net/stream.ts";
import { encodeProxyV2 } from "../../src/net/proxy_v2.ts";
import { TrafficEngine } from "../../src/rules/engine.ts";
import type { RulesSession } from "../../src/rules/hub_link.ts";
import type { PortMapDialer } from "../../src/rules/portmaps.ts";
import { freePort } from "../_support/ports.ts";

/** A hub that allocates from a list, lists, and accepts (or refuses) syncs. */
export class FakeHub implements RulesSession {
  readonly allocated: number[] = [];
  readonly syncs: Record<string, unknown>[] = [];
  refuseSync: string | null = null;
  unreachable = false;

  constructor(readonly pool: number[]) {}

  request(type: string, data: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.unreachable) return Promise.reject(new Error("socket closed"));
    switch (type) {
      case "burrow/ports/allocate": {
        const port = this.pool.shift();
        if (port === undefined) {
          return Promise.reject(Object.assign(new Error("no free port"), { code: "no_ports" }));
        }
        this.allocated.push(port);
        return Promise.resolve({ port });
      }
      case "burrow/ports/release": {
        const at = this.allocated.indexOf(data.port as number);
        if (at < 0) {
          return Promise.reject(Object.assign(new Error("not yours"), { code: "not_allocated" }));
        }
        this.allocated.splice(at, 1);
        return Promise.resolve({ port: data.port });
      }
      case "burrow/ports/list":
        return Promise.resolve({ ports: [...this.allocated] });
      case "burrow/rules/sync":
        if (this.refuseSync) {
          return Promise.reject(
            Object.assign(new Error(this.refuseSync), { code: "domain_taken" }),
          );
        }
        this.syncs.push(data);
        return Promise.resolve({ revision: data.revision });
      default:
        return Promise.reject(new Error(`unexpected ${type}`));
    }
  }
}

export interface EngineFixture {
  engine: TrafficEngine;
  hub: FakeHub;
  stateDir: string;
  http: number;
  https: number;
  close(): Promise<void>;
}

/** An engine listening on 127.0.0.1 with free ingress ports and a fresh state directory. */
export async function startEngine(
  options: {
    stateDir?: string;
    pool?: number[];
    dialer?: PortMapDialer;
    acme?: { directoryUrl: string; caPem?: string };
    /** The hub's address as the listeners see it. @default "127.0.0.1" (every test client) */
    hubAddress?: string;
  } = {},
): Promise<EngineFixture> {
  const stateDir = options.stateDir ?? await Deno.makeTempDir({ prefix: "brl-state-" });
  const hub = new FakeHub(options.pool ?? []);
  const http = freePort();
  const https = freePort();
  const engine = await TrafficEngine.start({
    stateDir,
    listenAddress: "127.0.0.1",
    hubAddress: options.hubAddress ?? "127.0.0.1",
    ingressPorts: { http, https },
    portMapDialer: options.dialer,
    acme: options.acme,
  });
  engine.setSession(hub);
  return {
    engine,
    hub,
    stateDir,
    http,
    https,
    close: async () => {
      await engine.close();
      await engine.certificatesSettled();
      if (!options.stateDir) await Deno.remove(stateDir, { recursive: true });
    },
  };
}

/** Connects to `port` as the hub does: PROXY v2 header naming `client`, then `payload`. */
export async function relayedConnect(
  port: number,
  client: string,
  payload: Uint8Array | string = new Uint8Array(0),
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const header = encodeProxyV2({ address: client, port: 40000 }, {
    address: "127.0.0.1",
    port,
  });
  const body = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  await conn.write(concat([header, body]));
  return conn;
}

/** Reads until the peer closes. */
export async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
  }
  return concat(chunks);
}

/** One HTTP/1.1 request through the relay; returns status, headers (lower case) and body. */
export async function relayedRequest(
  port: number,
  client: string,
  request: string,
): Promise<{ status: number; headers: Record<string, string>; body: string; raw: string }> {
  const conn = await relayedConnect(port, client, request);
  try {
    const raw = new TextDecoder().decode(await readAll(conn));
    return { ...parseResponse(raw), raw };
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

export function parseResponse(
  raw: string,
): { status: number; headers: Record<string, string>; body: string } {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return { status: 0, headers: {}, body: raw };
  const [statusLine, ...lines] = raw.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body: raw.slice(end + 4) };
}

/** An upstream that answers every request with what it saw, as JSON. */
export function echoUpstream(): { port: number; server: Deno.HttpServer } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const body = req.body ? await req.text() : "";
    if (url.pathname.startsWith("/stream")) {
      // No length: HTTP/1.1 gets chunks, HTTP/1.0 a body ended by close.
      const parts = ["first,", "second,", "third"];
      return new Response(
        new ReadableStream({
          pull(controller) {
            const part = parts.shift();
            if (part === undefined) controller.close();
            else controller.enqueue(new TextEncoder().encode(part));
          },
        }),
      );
    }
    return Response.json({
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      body,
    });
  });
  return { port: server.addr.port, server };
}
