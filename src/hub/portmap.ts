// The hub's port-map service (docs/port-map-protocol.md): listens on the hub's tunnel address
// only. 1. identify the calling agent by its tunnel source address, 2. read its request line,
// 3. check the request against that agent's synced port maps, 4. dial another tunnel's
// allocated port (PROXY v2 header, firewall applied) or an outside destination, 5. answer and
// relay (TCP bytes, or length-framed datagrams for UDP).

import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { type Cidr, closeQuietly, encodeProxyV2, parseIp, relay, writeAll } from "../net/mod.ts";
import { log } from "../log/mod.ts";
import type { RouteTable } from "./route_table.ts";
import type { AgentDialer } from "./ingress_listeners.ts";
import { DestinationPolicy } from "./portmap_policy.ts";
import type { PortMapCounters } from "./hub_metrics.ts";
import {
  decodePortMapRequest,
  encodePortMapAnswer,
  frameDatagram,
  PORT_MAP_SERVICE_PORT,
  type PortMapRequest,
  readDatagrams,
  readPortMapLine,
} from "../protocol/mod.ts";

export interface PortMapServiceOptions {
  /** The hub's tunnel address: the service is never reachable from outside the tunnel. */
  hostname: string;
  /** @default PORT_MAP_SERVICE_PORT */
  port?: number;
  routes(): RouteTable;
  /** Outside destinations inside this network are refused (isolation between agents). */
  tunnelNetwork: Cidr;
  /** Further networks outside destinations may not be in (`--portmap-deny`). */
  deny?: readonly Cidr[];
  /** The hub's own addresses, refused as destinations. @default its interfaces' addresses */
  ownAddresses?: () => Uint8Array[];
  dialAgent: AgentDialer;
  /** Resolves a destination name to addresses (injectable for tests). */
  resolve?: (name: string) => Promise<string[]>;
  /** @default 900 for agents, 5000 for outside destinations */
  agentDialTimeoutMs?: number;
  outsideDialTimeoutMs?: number;
  /** Counts relayed bytes by calling agent (the hub's metrics). */
  counters?: PortMapCounters;
}

const REQUEST_TIMEOUT_MS = 10_000;

/** A refusal the caller sees as `{"ok": false, "error": message}`. */
class Refusal extends Error {}

export class PortMapService {
  readonly #listener: Deno.TcpListener;
  readonly #options: PortMapServiceOptions;
  readonly #policy: DestinationPolicy;
  readonly #connections = new Set<{ close(): void }>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #loop: Promise<void>;

  constructor(options: PortMapServiceOptions) {
    this.#options = options;
    this.#policy = new DestinationPolicy(
      options.tunnelNetwork,
      options.deny,
      options.ownAddresses,
    );
    this.#listener = Deno.listen({
      hostname: options.hostname,
      port: options.port ?? PORT_MAP_SERVICE_PORT,
    });
    this.#loop = this.#acceptLoop();
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  async close(): Promise<void> {
    closeQuietly(this.#listener);
    for (const conn of this.#connections) closeQuietly(conn);
    await this.#loop;
    while (this.#tasks.size) await Promise.allSettled([...this.#tasks]);
  }

  async #acceptLoop(): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return;
      }
      this.#connections.add(conn);
      const task = this.#handle(conn).catch((error) => {
        log.debug("port map connection failed", { error });
      }).finally(() => {
        this.#connections.delete(conn);
        closeQuietly(conn);
      });
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  /** Relay options that count `caller`'s bytes both ways (none without counters). */
  #counted(caller: string) {
    const counters = this.#options.counters;
    if (!counters) return {};
    return {
      countA: (n: number) => counters.portMapBytes(caller, "sent", n),
      countB: (n: number) => counters.portMapBytes(caller, "received", n),
    };
  }

  async #handle(conn: Deno.TcpConn): Promise<void> {
    const routes = this.#options.routes();
    // 1. WireGuard's source check makes the tunnel source address an identity.
    const caller = routes.clientsByTunnelIP.get(conn.remoteAddr.hostname);
    if (!caller) return await refuse(conn, "not a registered tunnel address");
    // 2. The request line.
    const timer = setTimeout(() => closeQuietly(conn), REQUEST_TIMEOUT_MS);
    const line = await readPortMapLine(conn).finally(() => clearTimeout(timer));
    const request = line && decodePortMapRequest(line);
    if (!request) return await refuse(conn, "bad port map request");
    // 3. Only destinations the caller synced as port maps.
    const synced = routes.portmaps.get(caller) ?? [];
    const listed = synced.some((rule) =>
      rule.destination === request.destination && rule.dstPort === request.dstPort &&
      rule.transport === request.transport
    );
    if (!listed) return await refuse(conn, "no such port map in your synced rules");
    try {
      if (request.destination === "") await this.#toTunnel(conn, request, routes, caller);
      else if (request.transport === "tcp") await this.#toOutsideTcp(conn, request, caller);
      else await this.#toOutsideUdp(conn, request, caller);
    } catch (error) {
      if (error instanceof Refusal) return await refuse(conn, error.message);
      throw error;
    }
  }

  /** 4a. Another tunnel's allocated port, as if the caller were an internet client. */
  async #toTunnel(
    conn: Deno.TcpConn,
    request: PortMapRequest,
    routes: RouteTable,
    caller: string,
  ) {
    if (request.transport !== "tcp") throw new Refusal("allocated ports carry TCP only");
    const target = routes.ports.get(request.dstPort);
    if (!target?.tunnelIP) throw new Refusal(`port ${request.dstPort} is not allocated`);
    const callerAddress = parseIp(conn.remoteAddr.hostname);
    if (!callerAddress || !target.allows(callerAddress)) {
      throw new Refusal("refused by the port's firewall");
    }
    let upstream: Deno.TcpConn;
    try {
      upstream = await this.#options.dialAgent(
        target.tunnelIP,
        request.dstPort,
        AbortSignal.timeout(this.#options.agentDialTimeoutMs ?? 900),
      );
    } catch {
      throw new Refusal("the tunnel owning that port is offline");
    }
    this.#connections.add(upstream);
    try {
      await writeAll(conn, encodePortMapAnswer({ ok: true }));
      const header = encodeProxyV2(
        { address: conn.remoteAddr.hostname, port: conn.remoteAddr.port },
        { address: this.#options.hostname, port: request.dstPort },
      );
      await relay(conn, upstream, { first: header, ...this.#counted(caller) });
    } finally {
      this.#connections.delete(upstream);
    }
  }

  /** Resolves and checks an outside destination against the policy (portmap_policy.ts). */
  async #outsideAddress(destination: string): Promise<string> {
    let addresses: string[];
    if (parseIp(destination)) addresses = [destination];
    else {
      try {
        addresses = await (this.#options.resolve ?? resolveName)(destination);
      } catch {
        throw new Refusal(`cannot resolve ${destination}`);
      }
    }
    const address = addresses[0];
    const bytes = address ? parseIp(address) : null;
    if (!bytes) throw new Refusal(`cannot resolve ${destination}`);
    const why = this.#policy.refusal(bytes);
    if (why) throw new Refusal(`destination ${destination} is not allowed: ${why}`);
    return address;
  }

  /** 4b. An outside TCP destination the hub dials itself. */
  async #toOutsideTcp(conn: Deno.TcpConn, request: PortMapRequest, caller: string) {
    const address = await this.#outsideAddress(request.destination);
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({
        hostname: address,
        port: request.dstPort,
        signal: AbortSignal.timeout(this.#options.outsideDialTimeoutMs ?? 5000),
      });
    } catch {
      throw new Refusal(`cannot connect to ${request.destination}:${request.dstPort}`);
    }
    this.#connections.add(upstream);
    try {
      await writeAll(conn, encodePortMapAnswer({ ok: true }));
      await relay(conn, upstream, this.#counted(caller));
    } finally {
      this.#connections.delete(upstream);
    }
  }

  /** 4c. An outside UDP destination: datagrams framed on the TCP stream both ways. */
  async #toOutsideUdp(conn: Deno.TcpConn, request: PortMapRequest, caller: string) {
    const counters = this.#options.counters;
    const address = await this.#outsideAddress(request.destination);
    const socket = dgram.createSocket(address.includes(":") ? "udp6" : "udp4");
    const handle = { close: () => socket.close() };
    this.#connections.add(handle);
    let failed = false;
    // Replies are written in order; a slow client applies back-pressure through this chain.
    let writing = Promise.resolve();
    socket.on("message", (message: Uint8Array) => {
      counters?.portMapBytes(caller, "received", message.length);
      const framed = frameDatagram(new Uint8Array(message));
      writing = writing.then(() => writeAll(conn, framed)).catch(() => {
        failed = true;
      });
    });
    socket.on("error", () => {
      failed = true;
      closeQuietly(conn);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.connect(request.dstPort, address, () => {
          socket.off("error", reject);
          resolve();
        });
      });
      await writeAll(conn, encodePortMapAnswer({ ok: true }));
      for await (const datagram of readDatagrams(conn)) {
        if (failed) break;
        counters?.portMapBytes(caller, "sent", datagram.length);
        socket.send(Buffer.from(datagram));
      }
    } catch {
      // the client went away
    } finally {
      this.#connections.delete(handle);
      try {
        socket.close();
      } catch { /* already closed */ }
      await writing;
    }
  }
}

async function refuse(conn: Deno.Conn, message: string): Promise<void> {
  try {
    await writeAll(conn, encodePortMapAnswer({ ok: false, error: message }));
    await conn.closeWrite();
  } catch { /* gone */ }
}

async function resolveName(name: string): Promise<string[]> {
  const v4 = await Deno.resolveDns(name, "A").catch(() => [] as string[]);
  if (v4.length) return v4;
  return await Deno.resolveDns(name, "AAAA");
}
