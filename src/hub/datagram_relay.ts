// The hub's relay port (like Pangolin's Gerbil): one UDP socket that forwards WireGuard
// datagrams between agents as they are, never decrypting them (the session is between the two
// agents' own keys). Where each datagram goes is RelaySessions' decision; this file is the
// socket, the refresh of agents' addresses from the hub's own WireGuard peers, and persistence.

import { log } from "../log/mod.ts";
import { joinHostPort, parseHostPort } from "../net/mod.ts";
import { type RelayIndex, type RelayPeers, RelaySessions } from "./relay_sessions.ts";

/** How often agents' addresses are read again from the hub's WireGuard device. */
const REFRESH_MS = 1000;
/** An unknown source triggers a refresh, at most this often. */
const MISS_REFRESH_MS = 200;
const SWEEP_MS = 60_000;

/** An agent as the hub's device sees it: its key and the address its datagrams come from. */
export interface RelayAgent {
  publicKey: string;
  endpoint: string | null;
}

export interface DatagramRelayOptions {
  /** 0 picks a free port. */
  port: number;
  /** @default "0.0.0.0" */
  hostname?: string;
  /** The hub device's peers (every registered agent). */
  agents(): Promise<RelayAgent[]>;
  /** Keys `key` may exchange relayed datagrams with (from the hub's resources). */
  partnersOf(key: string): ReadonlySet<string>;
  /** Saved indexes to restore, and where to save new ones. */
  saved?: readonly RelayIndex[];
  save?(entry: RelayIndex): void;
  /** Agents' addresses saved before a restart (used until the device has seen each again). */
  savedAddresses?: ReadonlyMap<string, string>;
  /** Called with agents' addresses (key -> address) whenever they change, to save them. */
  saveAddresses?(addresses: ReadonlyMap<string, string>): void;
  /** Datagrams that are no WireGuard message (endpoint announcements) go here. */
  foreign?(datagram: Uint8Array, from: string): void;
  /** The agent announcing from `address`, when the device's view does not know it. */
  announcedKeyAt?(address: string): string | null;
  /** The address the agent announced from, when the device's view does not know it. */
  announcedAddressOf?(key: string): string | null;
}

/** A running relay; `close()` releases the socket. */
export class DatagramRelay {
  readonly #conn: Deno.DatagramConn;
  readonly #options: DatagramRelayOptions;
  readonly sessions: RelaySessions;
  #keyAt = new Map<string, string>();
  #addressOf = new Map<string, string>();
  #savedText = "";
  readonly #targets = new Map<string, Deno.NetAddr>();
  #refreshTimer: ReturnType<typeof setInterval> | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #lastRefresh = 0;
  #refreshing: Promise<void> | null = null;
  #loop: Promise<void>;
  #closed = false;
  /** Datagrams forwarded and dropped, for logs and tests. */
  forwarded = 0;
  dropped = 0;

  private constructor(conn: Deno.DatagramConn, options: DatagramRelayOptions) {
    this.#conn = conn;
    this.#options = options;
    const peers: RelayPeers = {
      keyAt: (address) => this.#keyAt.get(address) ?? options.announcedKeyAt?.(address) ?? null,
      addressOf: (key) => this.#addressOf.get(key) ?? options.announcedAddressOf?.(key) ?? null,
      partnersOf: (key) => options.partnersOf(key),
    };
    this.sessions = new RelaySessions(peers, { learned: options.save });
    if (options.saved) this.sessions.restore(options.saved);
    for (const [key, address] of options.savedAddresses ?? []) {
      this.#addressOf.set(key, address);
      this.#keyAt.set(address, key);
    }
    this.#savedText = JSON.stringify([...this.#addressOf].sort());
    this.#loop = this.#receiveLoop();
  }

  /**
   * Binds the relay port and starts forwarding.
   *
   * @throws {Deno.errors.AddrInUse} when the port is taken
   */
  static async start(options: DatagramRelayOptions): Promise<DatagramRelay> {
    const conn = Deno.listenDatagram({
      transport: "udp",
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port,
    });
    const relay = new DatagramRelay(conn, options);
    await relay.refresh();
    relay.#refreshTimer = setInterval(() => relay.refresh(), REFRESH_MS);
    relay.#sweepTimer = setInterval(() => relay.sessions.sweep(), SWEEP_MS);
    return relay;
  }

  get port(): number {
    return (this.#conn.addr as Deno.NetAddr).port;
  }

  /** Reads agents' addresses again from the hub's device. */
  refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const agents = await this.#options.agents();
        const keyAt = new Map<string, string>(), addressOf = new Map<string, string>();
        for (const agent of agents) {
          const split = agent.endpoint ? parseHostPort(agent.endpoint) : null;
          // Not seen by the device since a restart: the address saved before it.
          const address = split
            ? joinHostPort(split.host, split.port)
            : this.#addressOf.get(agent.publicKey);
          if (!address) continue;
          keyAt.set(address, agent.publicKey);
          addressOf.set(agent.publicKey, address);
        }
        this.#keyAt = keyAt;
        this.#addressOf = addressOf;
        const text = JSON.stringify([...addressOf].sort());
        if (text !== this.#savedText) {
          this.#savedText = text;
          this.#options.saveAddresses?.(addressOf);
        }
      } catch (error) {
        if (!this.#closed) log.debug("relay: cannot read agents", { error: String(error) });
      } finally {
        this.#lastRefresh = Date.now();
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  async #receiveLoop(): Promise<void> {
    while (!this.#closed) {
      let datagram: Uint8Array, remote: Deno.Addr;
      try {
        [datagram, remote] = await this.#conn.receive();
      } catch (error) {
        if (this.#closed) return;
        log.warn("relay: receive failed", { error: String(error) });
        continue;
      }
      const from = remote as Deno.NetAddr;
      const source = joinHostPort(from.hostname, from.port);
      if (datagram.length >= 4 && (datagram[0] < 1 || datagram[0] > 4)) {
        this.#options.foreign?.(datagram, source);
        continue;
      }
      const target = this.sessions.route(datagram, source);
      if (!target) {
        this.dropped++;
        if (!this.#keyAt.has(source) && Date.now() - this.#lastRefresh > MISS_REFRESH_MS) {
          this.refresh();
        }
        continue;
      }
      // Not awaited: the next datagram is read while this one is sent (UDP keeps no order
      // anyway, and WireGuard's replay window takes what reordering this adds).
      this.#conn.send(datagram, this.#addrOf(target)).then(
        () => this.forwarded++,
        () => this.dropped++,
      );
    }
  }

  /** The send address of `target` ("ip:port"), parsed once per agent address. */
  #addrOf(target: string): Deno.NetAddr {
    let addr = this.#targets.get(target);
    if (!addr) {
      const split = parseHostPort(target)!;
      addr = { transport: "udp", hostname: split.host, port: split.port };
      if (this.#targets.size > 4096) this.#targets.clear();
      this.#targets.set(target, addr);
    }
    return addr;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#refreshTimer);
    clearInterval(this.#sweepTimer);
    this.#conn.close();
    await this.#loop;
    await this.#refreshing;
  }
}
