// Port maps: local listeners on 127.0.0.1:port (tcp or udp) whose connections and datagram
// flows reach `destination:dstPort` through the hub's port-map service. Listeners are bound
// before a change is accepted (a busy port refuses the request) and adopted after it.

import { log } from "../log/mod.ts";
import {
  frameDatagram,
  type PortMapRequest,
  type PortMapRule,
  readDatagrams,
  RuleError,
} from "../protocol/mod.ts";
import { acceptConnections, closeQuietly, relay } from "../net/mod.ts";
import { noDelay } from "./site_socket.ts";

/** Opens a mapped connection through the hub (tests pass a fake). */
export type PortMapDialer = (request: PortMapRequest) => Promise<Deno.Conn>;

/** Loopback address port maps listen on. */
export const PORT_MAP_LISTEN_ADDRESS = "127.0.0.1";
/** A UDP flow with no datagram either way for this long is closed. */
export const UDP_FLOW_IDLE_MS = 60_000;

type Listener =
  | { transport: "tcp"; socket: Deno.TcpListener }
  | { transport: "udp"; socket: Deno.DatagramConn };

interface Entry {
  listener: Listener;
  rule: PortMapRule;
  /** The accept loop; the port is free again once it ended. */
  loop?: Promise<void>;
}

function keyOf(rule: { transport: string; port: number }): string {
  return `${rule.transport}/${rule.port}`;
}

/** Listeners bound for a change that is not committed yet. */
export interface StagedPortMaps {
  /** Adopts the staged listeners, closes the ones not in `all`; resolves once those are free. */
  commit(all: readonly PortMapRule[]): Promise<void>;
  abort(): void;
}

/** The live port maps. */
export class PortMapListeners {
  readonly #entries = new Map<string, Entry>();
  readonly #conns = new Set<Deno.Conn>();
  readonly #loops = new Set<Promise<void>>();
  // Listeners being closed, by key: a port can be bound again once its loop ended.
  readonly #closing = new Map<string, Promise<void>>();
  #closed = false;

  constructor(readonly dial: PortMapDialer) {}

  /** The rules currently listening. */
  get active(): PortMapRule[] {
    return [...this.#entries.values()].map((entry) => entry.rule);
  }

  /**
   * Binds listeners for the request's port maps that have none yet.
   *
   * @param requested the port maps being created or updated, in request order (for error names)
   * @throws {RuleError} 409 naming the port map whose port cannot be bound
   */
  async stage(requested: readonly PortMapRule[]): Promise<StagedPortMaps> {
    const staged = new Map<string, Listener>();
    const abort = () => {
      for (const listener of staged.values()) closeQuietly(listener.socket);
      staged.clear();
    };
    for (const [index, rule] of requested.entries()) {
      const key = keyOf(rule);
      if (this.#entries.has(key) || staged.has(key)) continue;
      await this.#closing.get(key);
      try {
        staged.set(key, bind(rule));
      } catch (error) {
        abort();
        const reason = error instanceof Deno.errors.AddrInUse
          ? "address in use"
          : error instanceof Deno.errors.PermissionDenied
          ? "permission denied"
          : "cannot bind";
        throw new RuleError(
          "conflict",
          `portmaps[${index}] (${rule.port}): cannot listen on ${PORT_MAP_LISTEN_ADDRESS}:${rule.port}/${rule.transport}: ${reason}`,
        );
      }
    }
    return {
      abort,
      commit: async (all) => {
        const wanted = new Map(all.map((rule) => [keyOf(rule), rule]));
        const closing: Promise<void>[] = [];
        for (const [key, entry] of this.#entries) {
          if (wanted.has(key)) continue;
          closeQuietly(entry.listener.socket);
          this.#entries.delete(key);
          const done = (entry.loop ?? Promise.resolve()).finally(() => {
            if (this.#closing.get(key) === done) this.#closing.delete(key);
          });
          this.#closing.set(key, done);
          closing.push(done);
        }
        await Promise.all(closing);
        for (const [key, rule] of wanted) {
          const entry = this.#entries.get(key);
          if (entry) {
            entry.rule = rule;
            continue;
          }
          let listener = staged.get(key);
          staged.delete(key);
          if (!listener) {
            // Restored at start or after a rollback: bind now, and log instead of failing.
            await this.#closing.get(key);
            try {
              listener = bind(rule);
            } catch (error) {
              log.warn("port map cannot listen", { port: rule.port, error: String(error) });
              continue;
            }
          }
          const created: Entry = { listener, rule };
          this.#entries.set(key, created);
          this.#serve(created);
        }
        abort();
      },
    };
  }

  #serve(entry: Entry): void {
    if (this.#closed) return;
    const loop = entry.listener.transport === "tcp"
      ? this.#serveTcp(entry, entry.listener.socket)
      : this.#serveUdp(entry, entry.listener.socket);
    entry.loop = loop;
    this.#loops.add(loop);
    loop.finally(() => this.#loops.delete(loop));
  }

  async #serveTcp(entry: Entry, socket: Deno.TcpListener): Promise<void> {
    // The one accept loop: an accept error (EMFILE) waits and retries; closing ends it.
    const accepted = acceptConnections(socket, {
      closed: () => this.#closed,
      onRetry: (error, inMs) =>
        log.warn("port map cannot accept; retrying", {
          port: entry.rule.port,
          error: String(error),
          inMs,
        }),
    });
    for await (const conn of accepted) {
      noDelay(conn);
      this.#conns.add(conn);
      (async () => {
        const { destination, dstPort, transport } = entry.rule;
        let upstream: Deno.Conn;
        try {
          upstream = noDelay(await this.dial({ destination, dstPort, transport }));
        } catch (error) {
          log.warn("port map refused", { port: entry.rule.port, error: String(error) });
          return;
        }
        this.#conns.add(upstream);
        try {
          await relay(conn, upstream);
        } finally {
          this.#conns.delete(upstream);
        }
      })().finally(() => {
        this.#conns.delete(conn);
        closeQuietly(conn);
      });
    }
  }

  async #serveUdp(entry: Entry, socket: Deno.DatagramConn): Promise<void> {
    const flows = new Map<string, { conn: Promise<Deno.Conn | null>; last: number }>();
    const sweep = setInterval(() => {
      const now = Date.now();
      for (const [key, flow] of flows) {
        if (now - flow.last < UDP_FLOW_IDLE_MS) continue;
        flows.delete(key);
        flow.conn.then((conn) => conn && closeQuietly(conn));
      }
    }, 5_000);
    try {
      for await (const [datagram, from] of socket) {
        const address = from as Deno.NetAddr;
        const key = `${address.hostname}:${address.port}`;
        let flow = flows.get(key);
        if (!flow) {
          const { destination, dstPort } = entry.rule;
          const conn = this.dial({ destination, dstPort, transport: "udp" }).then((conn) => {
            this.#conns.add(conn);
            this.#udpReplies(conn, socket, address).finally(() => {
              flows.delete(key);
              this.#conns.delete(conn);
              closeQuietly(conn);
            });
            return conn;
          }, (error) => {
            log.warn("port map refused", { port: entry.rule.port, error: String(error) });
            flows.delete(key);
            return null;
          });
          flow = { conn, last: Date.now() };
          flows.set(key, flow);
        }
        flow.last = Date.now();
        const conn = await flow.conn;
        if (!conn) continue;
        try {
          const framed = frameDatagram(datagram);
          let written = 0;
          while (written < framed.length) written += await conn.write(framed.subarray(written));
        } catch {
          flows.delete(key);
          closeQuietly(conn);
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) {
        log.error("port map listener failed", { port: entry.rule.port, error: String(error) });
      }
    } finally {
      clearInterval(sweep);
      for (const flow of flows.values()) flow.conn.then((conn) => conn && closeQuietly(conn));
    }
  }

  async #udpReplies(conn: Deno.Conn, socket: Deno.DatagramConn, to: Deno.NetAddr): Promise<void> {
    try {
      for await (const datagram of readDatagrams(conn)) await socket.send(datagram, to);
    } catch {
      // The flow ended (closed by idle sweep or by the hub).
    }
  }

  /** Closes every listener and mapped connection; resolves once the ports are free. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#entries.values()) closeQuietly(entry.listener.socket);
    this.#entries.clear();
    for (const conn of this.#conns) closeQuietly(conn);
    this.#conns.clear();
    await Promise.all(this.#loops);
  }
}

function bind(rule: PortMapRule): Listener {
  if (rule.transport === "udp") {
    return {
      transport: "udp",
      socket: Deno.listenDatagram({
        transport: "udp",
        hostname: PORT_MAP_LISTEN_ADDRESS,
        port: rule.port,
      }),
    };
  }
  return {
    transport: "tcp",
    socket: Deno.listen({ hostname: PORT_MAP_LISTEN_ADDRESS, port: rule.port }),
  };
}
