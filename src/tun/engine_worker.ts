// Engine Worker: the thin shell that gives the packet loop (packet_engine.ts) its I/O. It reads the
// TUN and the UDP sockets itself into its rings (fd_source.ts), feeds them to the PacketEngine,
// writes its output with libc (TUN write, UDP sendto/sendmsg), and answers the main thread's
// messages (UAPI apply and get via uapi_apply.ts, raw sends, shutdown). Foreign datagrams the
// PacketEngine lets through its gate cross to the main thread as "foreign" reports.
//
//   1. read every descriptor not known to be empty (UDP with recvmmsg) into its ring;
//   2. drain each UDP ring (a batch of BATCH), sender sockaddr -> Endpoint through SenderCache;
//   3. drain the TUN ring (a batch);
//   4. run a few queued handshake messages (transport data of the round went first);
//   5. run the PacketEngine's timers when due;
//   6. flush the output: the pending TUN super-packet (tcp_coalesce.ts) and UDP GSO batch;
//      yield to the event loop only when the wake eventfd says a message is waiting (asked at
//      least every YIELD_AFTER_MS under load), so configuration messages run;
//   7. poll() the descriptors found empty and the wake eventfd: at once while there is work, for
//      SPIN_MS after a bulk round while packets come that often (sched_yield between looks),
//      else until one is readable or the next timer. The main thread writes the eventfd after
//      each message it posts, so a message wakes the poll and the loop yields to the event loop.
//      Before a sleep at the end of a few quiet seconds, a heap that grew is collected once
//      (idle_heap.ts).

/// <reference lib="deno.worker" />

import type { Endpoint } from "../crypto/mod.ts";
import { type AeadChoice, type AeadName, chooseTransportAead } from "./aead_choice.ts";
import { type EngineOutput, PacketEngine } from "./packet_engine.ts";
import { closeLibc, EAGAIN, errno, libc, POLLOUT, sizeArg } from "./libc.ts";
import { PacketRing, SLOT_SOCKADDR_OFFSET } from "./pool.ts";
import { TcpCoalescer } from "./tcp_coalesce.ts";
import type { TunOffload } from "./tun_offload.ts";
import { GSO_SEGMENTS_MAX, GsoBatch } from "./udp_gso.ts";
import { IdleHeap } from "./idle_heap.ts";
import { consumeWake, FdSource, FdSources } from "./fd_source.ts";
import type { EngineConfig, EngineReport, EngineRequest, EngineSockets } from "./protocol.ts";
import { formatEndpoint, UAPI_ERRNO, type UapiSet, type UapiSnapshot } from "./uapi.ts";
import { UapiApplier } from "./uapi_apply.ts";
import { decodeSockaddr, encodeSockaddr, SOCKADDR_IN6_SIZE } from "./udp.ts";
import {
  SLOT_CONTROL_LENGTH_OFFSET,
  SLOT_CONTROL_OFFSET,
  StickySender,
  StickySources,
} from "./udp_sticky.ts";

/** Packets taken from one ring before looking at the others (fairness between directions). */
const BATCH = 32;
/** Longest run of work before asking whether configuration messages wait (the wake fd). */
const YIELD_AFTER_MS = 4;
/**
 * How long the loop keeps looking (poll without sleeping, sched_yield between looks) after work
 * before it sleeps, counted from the end of the work; and only when the work before came less
 * than this long before it and was a bulk round ({@linkcode SPIN_AFTER_WORK}), as adaptive busy
 * polling does. The next packets of a transfer are then taken without a thread wake-up and on
 * a warm cache. Sparse packets (a ping every 10 ms) let the thread sleep at once: spinning for
 * them would take a core from whoever answers, the peer on the same host in the benchmark
 * (docs/data-plane.md, "A lone packet").
 */
const SPIN_MS = 0.3;
/**
 * The work of a round (packets read plus packets handled) after which the loop spins: a bulk
 * transfer's rounds, not request traffic's one or two packets. Spinning after every busy round
 * cost an HTTP site through hub and agent about a tenth of its requests per second on two
 * cores, where two spinning engines keep the relays and the upstream from a core; a transfer
 * keeps its gain (docs/data-plane.md, "Spinning only for bulk").
 */
const SPIN_AFTER_WORK = 32;
/** Longest poll() without a timer due; the event loop also runs at least this often. */
const MAX_SLEEP_MS = 1000;

/** UDP GSO unless BURROW_UDP_GSO=off (to compare, or to rule it out). */
function udpGsoWanted(): boolean {
  try {
    return Deno.env.get("BURROW_UDP_GSO") !== "off";
  } catch {
    return true;
  }
}

/** UDP GRO unless BURROW_UDP_GRO=off (to compare, or to rule it out). */
function udpGroWanted(): boolean {
  try {
    return Deno.env.get("BURROW_UDP_GRO") !== "off";
  } catch {
    return true;
  }
}

function report(message: EngineReport, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

/** Remembers the Endpoint object of recent senders, so a datagram costs no string formatting. */
class SenderCache {
  readonly #keys: Uint8Array[] = [];
  readonly #endpoints: Endpoint[] = [];
  #next = 0;

  constructor(readonly size = 8) {
    for (let i = 0; i < size; i++) this.#keys.push(new Uint8Array(SOCKADDR_IN6_SIZE));
  }

  lookup(bytes: Uint8Array, offset: number): Endpoint | null {
    const length = bytes[offset] === 2 ? 8 : 24; // AF_INET: family, port, address
    for (let i = 0; i < this.#endpoints.length; i++) {
      const key = this.#keys[i];
      let same = true;
      for (let j = 0; j < length; j++) {
        if (key[j] !== bytes[offset + j]) {
          same = false;
          break;
        }
      }
      if (same) return this.#endpoints[i];
    }
    const endpoint = decodeSockaddr(bytes, offset);
    if (!endpoint) return null;
    const slot = this.#next;
    this.#next = (this.#next + 1) % this.size;
    this.#keys[slot].set(bytes.subarray(offset, offset + SOCKADDR_IN6_SIZE));
    this.#endpoints[slot] = endpoint;
    return endpoint;
  }
}

/** sendmsg failures with UDP_SEGMENT in a row after which the device stops trying GSO. */
const GSO_FAILURES_MAX = 8;

/**
 * The engine's output on a real device: libc writes to the TUN (through the TCP coalescer when
 * the TUN has offloads), and UDP sends, gathered into GSO batches where the kernel takes them,
 * from the local address the peer contacted (source-address stickiness, udp_sticky.ts).
 * {@linkcode flush} sends what is gathered: the loop calls it before it waits.
 */
class LibcOutput implements EngineOutput {
  sockets: EngineSockets;
  /** The local address each remote endpoint contacted, filled by the UDP drain. */
  readonly sticky = new StickySources();
  readonly #stickySender = new StickySender();
  readonly #c = libc();
  readonly #tunFd: number;
  readonly #sockaddrs = new WeakMap<Endpoint, Uint8Array>();
  readonly #pollOut = new Uint8Array(8);
  /** Set on a TUN with virtio_net_hdr: every write goes through it (joined when "tso"). */
  readonly #coalescer: TcpCoalescer | null;
  readonly #join: boolean;
  /** UDP GSO batch; null once the kernel refused it too often. */
  #gso: GsoBatch | null;
  #gsoFailures = 0;

  constructor(tunFd: number, sockets: EngineSockets, offload: TunOffload, udpGso: boolean) {
    this.#tunFd = tunFd;
    this.sockets = sockets;
    this.#join = offload === "tso";
    this.#coalescer = offload === "none"
      ? null
      : new TcpCoalescer((bytes, length) => this.#c.write(this.#tunFd, bytes, sizeArg(length)));
    this.#gso = udpGso ? new GsoBatch() : null;
  }

  writeTun(buffer: Uint8Array, length: number, peer?: unknown): void {
    const coalescer = this.#coalescer;
    if (coalescer === null) {
      this.#c.write(this.#tunFd, buffer, sizeArg(length));
    } else if (this.#join) {
      coalescer.push(buffer, length, peer);
    } else {
      coalescer.push(buffer, length, null);
      coalescer.flush();
    }
  }

  sendUdp(to: Endpoint, buffer: Uint8Array, length: number): void {
    const batch = this.#gso;
    if (batch === null) {
      this.#sendOne(to, buffer, length, 0);
      return;
    }
    if (!batch.accepts(to, length)) this.#flushUdp(batch);
    batch.append(to, buffer, length);
  }

  /** Writes the pending super-packet and sends the pending GSO batch. */
  flush(): void {
    this.#coalescer?.flush();
    if (this.#gso !== null && this.#gso.count > 0) this.#flushUdp(this.#gso);
  }

  #flushUdp(batch: GsoBatch): void {
    const to = batch.to!;
    if (batch.count === 1) {
      this.#sendOne(to, batch.buffer, batch.length, 0);
    } else if (this.#sendOne(to, batch.buffer, batch.length, batch.segmentSize)) {
      this.#gsoFailures = 0;
    } else {
      // Refused with UDP_SEGMENT (a path MTU below the datagrams, an old kernel): one by one.
      for (let at = 0; at < batch.length; at += batch.segmentSize) {
        const size = Math.min(batch.segmentSize, batch.length - at);
        this.#sendOne(to, batch.buffer.subarray(at), size, 0);
      }
      if (++this.#gsoFailures >= GSO_FAILURES_MAX) this.#gso = null;
    }
    batch.clear();
  }

  #addressOf(to: Endpoint): Uint8Array | null {
    let address = this.#sockaddrs.get(to);
    if (!address) {
      try {
        address = encodeSockaddr(to);
      } catch {
        return null; // not an IP literal: nowhere to send
      }
      this.#sockaddrs.set(to, address);
    }
    return address;
  }

  /**
   * Sends `buffer[0…length)` to `to`: one datagram, or datagrams of `segmentSize` (GSO).
   *
   * @returns false when a GSO send was refused (nothing was sent); true otherwise, also when the
   *   datagram was lost as UDP may lose it
   */
  #sendOne(to: Endpoint, buffer: Uint8Array, length: number, segmentSize: number): boolean {
    const address = this.#addressOf(to);
    if (!address) return true;
    const fd = address.length === SOCKADDR_IN6_SIZE ? this.sockets.fd6 : this.sockets.fd4;
    if (fd < 0) return true;
    const sender = this.#stickySender;
    const source = this.sticky.sourceOf(to);
    if (source) {
      let failed = sender.send(fd, address, source, buffer, length, segmentSize);
      if (failed === EAGAIN) {
        this.#waitWritable(fd);
        failed = sender.send(fd, address, source, buffer, length, segmentSize);
      }
      if (failed === 0 || failed === EAGAIN) return true;
      // The address the peer contacted is gone: let the routing pick the source again.
      this.sticky.forget(to);
    }
    if (segmentSize > 0) {
      let failed = sender.send(fd, address, null, buffer, length, segmentSize);
      if (failed === EAGAIN) {
        this.#waitWritable(fd);
        failed = sender.send(fd, address, null, buffer, length, segmentSize);
      }
      return failed === 0 || failed === EAGAIN;
    }
    const size = sizeArg(length);
    if (this.#c.sendto(fd, buffer, size, 0, address, address.length) >= 0) return true;
    if (errno() !== EAGAIN) return true; // unreachable and the like: lost, as UDP may lose it
    this.#waitWritable(fd);
    this.#c.sendto(fd, buffer, size, 0, address, address.length);
    return true;
  }

  /** The socket buffer is full: wait briefly for room once rather than drop at once. */
  #waitWritable(fd: number): void {
    const view = new DataView(this.#pollOut.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLOUT, true);
    this.#c.poll(this.#pollOut, 1n, 5);
  }

  foreignDatagram(data: Uint8Array, from: Endpoint): void {
    const copy = data.slice();
    report({ type: "foreign", data: copy, from: formatEndpoint(from) }, [copy.buffer]);
  }
}

/** The loop: reads the descriptors, drains the rings into the engine, fires its timers, polls. */
class EngineShell {
  readonly engine: PacketEngine;
  readonly uapi: UapiApplier;
  readonly output: LibcOutput;
  readonly tunRing: PacketRing;
  readonly fds: FdSources;
  udpRings: PacketRing[] = [];
  running = true;
  /** TUN packets drained per round: a whole super-packet's segments with offloads (one GSO send). */
  readonly tunBatch: number;
  readonly #senders = new SenderCache();
  readonly #yieldChannel = new MessageChannel();
  readonly #c = libc();
  #yieldResolve: (() => void) | null = null;

  /** Which transport AEAD the engine uses. */
  readonly aead: AeadName;

  constructor(config: EngineConfig, choice: AeadChoice) {
    this.output = new LibcOutput(
      config.tunFd,
      config.sockets,
      config.tunOffload,
      udpGsoWanted(),
    );
    this.tunBatch = config.tunOffload === "tso" ? GSO_SEGMENTS_MAX : BATCH;
    this.aead = choice.name;
    this.engine = new PacketEngine({
      mtu: config.mtu,
      privateKey: config.privateKey,
      listenPort: config.sockets.port,
      random: (dst) => crypto.getRandomValues(dst),
      aead: choice.aead,
      reportForeign: config.reportForeign,
      now: performance.now(),
    }, this.output);
    this.uapi = new UapiApplier(this.engine, config.privateKey);
    this.tunRing = PacketRing.attach(config.tunRing);
    this.fds = new FdSources(config.wakeFd);
    if (config.tunFd >= 0) {
      this.fds.sources.push(new FdSource("tun", config.tunFd, config.tunRing, config.tunOffload));
    }
    this.#attachRings(config.sockets);
    this.#yieldChannel.port1.onmessage = () => this.#yieldResolve?.();
  }

  #attachRings(sockets: EngineSockets): void {
    const udp: FdSource[] = [];
    if (sockets.ring4 && sockets.fd4 >= 0) {
      udp.push(new FdSource("udp", sockets.fd4, sockets.ring4, "none", udpGroWanted()));
    }
    if (sockets.ring6 && sockets.fd6 >= 0) {
      udp.push(new FdSource("udp", sockets.fd6, sockets.ring6, "none", udpGroWanted()));
    }
    this.fds.replaceUdp(udp);
    this.udpRings = udp.map((source) => source.ring);
  }

  /** A descriptor broke: reported, and read no more (the device closes when it was the TUN). */
  #checkFailed(): void {
    const failed = this.fds.failed;
    if (!failed) return;
    this.fds.remove(failed.source);
    report({ type: "failed", kind: failed.source.kind, errno: failed.errno });
  }

  /** Lets queued messages run without the 4 ms clamp of nested timers. */
  #yield(): Promise<void> {
    return new Promise((resolve) => {
      this.#yieldResolve = resolve;
      this.#yieldChannel.port2.postMessage(null);
    });
  }

  async loop(): Promise<void> {
    const engine = this.engine;
    const fds = this.fds;
    let lastYield = performance.now();
    let lastWakeCheck = lastYield;
    let spinUntil = 0;
    let lastWorkEnd = -Infinity;
    const heap = new IdleHeap(lastYield);
    while (this.running) {
      const now = performance.now();
      const published = fds.read();
      this.#checkFailed();
      let work = published;
      for (let i = 0; i < this.udpRings.length; i++) work += this.#drainUdp(this.udpRings[i], now);
      work += this.#drainTun(now);
      work += engine.processHandshakes(now);
      if (now >= engine.nextDeadline()) engine.runTimers(now);
      this.output.flush();
      // A lone packet after a quiet spell: sleep at once (step 7), polling every descriptor.
      let lone = false;
      if (work > 0) {
        const end = performance.now();
        if (end - lastWorkEnd < SPIN_MS) spinUntil = work >= SPIN_AFTER_WORK ? end + SPIN_MS : 0;
        else lone = true;
        lastWorkEnd = end;
        heap.work(work);
      }
      if ((work > 0 && !lone) || this.#anyAvailable() || fds.anyBuffered()) {
        // Ask about the empty descriptors (and messages) without waiting, so none starves. With
        // every descriptor busy, the wake fd alone is asked every YIELD_AFTER_MS: the event loop
        // only has work when a message came, so it is not entered otherwise.
        if (!fds.anyEmpty() && now - lastWakeCheck <= YIELD_AFTER_MS) continue;
        lastWakeCheck = now;
        const woken = fds.wait(0);
        this.#checkFailed();
        if (woken) {
          await this.#yield();
          lastYield = performance.now();
        }
        continue;
      }
      if (now < spinUntil) {
        // Just after work: look again without sleeping, giving the CPU to whoever needs it.
        const woken = fds.wait(0);
        this.#checkFailed();
        if (woken) {
          await this.#yield();
          lastYield = performance.now();
        }
        if (!fds.anyEmpty() || woken) continue;
        this.#c.sched_yield();
        continue;
      }
      heap.idle(now);
      const untilTimer = engine.nextDeadline() - performance.now();
      // Every descriptor: after a lone packet, some were not read to EAGAIN. The consumer of
      // what was just written (the ping, the peer on this host) is often woken onto this CPU,
      // and runs once this thread sleeps.
      const woken = fds.wait(Math.ceil(Math.max(0, Math.min(MAX_SLEEP_MS, untilTimer))), true);
      this.#checkFailed();
      // Woken by a message, or idle a while: let the event loop run.
      if (woken || performance.now() - lastYield > MAX_SLEEP_MS) {
        await this.#yield();
        lastYield = performance.now();
      }
    }
    this.#yieldChannel.port1.close();
    this.#yieldChannel.port2.close();
  }

  stop(): void {
    this.running = false;
  }

  #anyAvailable(): boolean {
    if (this.tunRing.available() > 0 || this.engine.handshakes.depth > 0) return true;
    for (const ring of this.udpRings) if (ring.available() > 0) return true;
    return false;
  }

  // TUN ring -> engine.
  #drainTun(now: number): number {
    const ring = this.tunRing;
    const count = Math.min(ring.available(), this.tunBatch);
    let sequence = ring.tail();
    for (let i = 0; i < count; i++, sequence++) {
      const index = ring.index(sequence);
      const offset = ring.dataOffset(index);
      this.engine.packetFromTun(ring.bytes.subarray(offset, offset + ring.length(index)), now);
    }
    if (count > 0) {
      ring.release(count);
      ring.rewindIfEmpty();
    }
    return count;
  }

  // UDP ring -> engine, one batch.
  #drainUdp(ring: PacketRing, now: number): number {
    const count = Math.min(ring.available(), BATCH);
    let sequence = ring.tail();
    for (let i = 0; i < count; i++, sequence++) {
      const index = ring.index(sequence);
      const length = ring.length(index);
      if (length <= 0) continue; // truncated (oversized) or empty
      const offset = ring.dataOffset(index);
      const from = this.#senders.lookup(
        ring.bytes,
        ring.headerOffset(index) + SLOT_SOCKADDR_OFFSET,
      );
      if (!from) continue;
      const header = ring.headerOffset(index);
      const control = ring.view.getInt32(header + SLOT_CONTROL_LENGTH_OFFSET, true);
      if (control > 0) {
        this.output.sticky.remember(from, ring.bytes, header + SLOT_CONTROL_OFFSET, control);
      }
      this.engine.datagramFromNetwork(ring.bytes.subarray(offset, offset + length), from, now);
    }
    if (count > 0) {
      ring.release(count);
      ring.rewindIfEmpty();
    }
    return count;
  }

  /** Applies a validated UAPI change set, with new sockets when the port changed. */
  apply(change: UapiSet, sockets: EngineSockets | undefined): number {
    if (sockets) {
      this.output.sockets = sockets;
      this.#attachRings(sockets);
    }
    const errno = this.uapi.apply(
      change,
      this.output.sockets.port,
      sockets !== undefined,
      performance.now(),
    );
    return errno;
  }

  snapshot(): UapiSnapshot {
    return this.uapi.snapshot(this.output.sockets.port, performance.timeOrigin);
  }
}

let engine: EngineShell | null = null;
/** The eventfd the main thread writes once per message posted (from "start"). */
let wakeFd = -1;
let finished: Promise<void> | null = null;

function shutdown(): void {
  const exit = () => {
    report({ type: "stopped" });
    closeLibc();
    self.close();
  };
  if (!engine) return exit();
  engine.stop();
  (finished ?? Promise.resolve()).finally(exit);
}

/** Settles once "start" was handled: later messages wait for it (choosing the AEAD is async). */
let ready: Promise<void> = Promise.resolve();

async function start(config: EngineConfig): Promise<void> {
  const choice = await chooseTransportAead();
  if (choice.error) report({ type: "error", message: choice.error });
  engine = new EngineShell(config, choice);
  finished = engine.loop().catch((error) => {
    report({ type: "error", message: String(error?.stack ?? error) });
  });
  report({ type: "started", publicKey: engine.engine.wg.publicKey, aead: engine.aead });
}

function handle(message: EngineRequest): void {
  try {
    switch (message.type) {
      case "start":
        ready = start(message.config).catch((error) => {
          report({
            type: "error",
            message: error instanceof Error ? error.message : String(error),
          });
        });
        break;
      case "apply": {
        if (!engine) throw new Error("apply before start");
        const errno = engine.apply(message.change, message.sockets);
        report({ type: "applied", id: message.id, errno, publicKey: engine.engine.wg.publicKey });
        break;
      }
      case "get": {
        if (!engine) throw new Error("get before start");
        report({ type: "snapshot", id: message.id, snapshot: engine.snapshot() });
        break;
      }
      case "send":
        engine?.engine.sendDatagram(message.to, message.data);
        break;
      case "mtu":
        if (engine) engine.engine.wg.mtu = message.mtu;
        break;
      case "shutdown":
        shutdown();
        break;
    }
    // What a message made the engine send (a handshake, a raw datagram) leaves now.
    engine?.output.flush();
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    if (message.type === "apply") {
      report({ type: "applied", id: message.id, errno: UAPI_ERRNO.invalid, publicKey: null });
    }
    report({ type: "error", message: text });
  }
}

self.onmessage = (event: MessageEvent<EngineRequest>) => {
  const message = event.data;
  if (message.type === "start") wakeFd = message.config.wakeFd;
  if (wakeFd >= 0) consumeWake(wakeFd);
  if (message.type === "start") handle(message);
  else ready = ready.then(() => handle(message));
};
