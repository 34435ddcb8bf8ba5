// The device on the main thread: creates the TUN and the sockets, runs the engine Worker (which
// reads them itself), turns API calls and UAPI transactions into engine messages, and tears it all down.

import { log } from "../log/mod.ts";
import { formatCidr, parseCidr, parseHostPort, parseIp } from "../net/mod.ts";
import {
  clampPrivateKey,
  generatePrivateKey,
  keyToBase64,
  publicKeyOf,
} from "../curve25519/mod.ts";
import { PACKET_BYTES_MAX, PacketRing } from "./pool.ts";
import type { EngineReport, EngineRequest, EngineSockets } from "./protocol.ts";
import { openWakeFd, signalWake } from "./fd_source.ts";
import { addLinkAddress, addLinkRoute, closeFd, openTun, setLinkUp } from "./tun.ts";
import { TunLink } from "./tun_link.ts";
import { negotiateOffload, offloadsWanted, type TunOffload } from "./tun_offload.ts";
import type { Device, DeviceOptions, PeerSettings, PeerStatus } from "./types.ts";
import { FOREIGN_MAX_BYTES } from "./foreign_gate.ts";
import {
  formatEndpoint,
  parseEndpoint,
  UAPI_ERRNO,
  type UapiSet,
  type UapiSnapshot,
} from "./uapi.ts";
import { listenUapi, type UapiServer } from "./uapi_server.ts";
import { closeUdpSockets, openUdpSockets, setFwmark, type UdpSockets } from "./udp.ts";
import { SyscallError } from "./libc.ts";

const DEFAULT_MTU = 1420;
const RING_SLOTS = 512;
const STOP_TIMEOUT_MS = 3000;
const LINK_CHECK_MS = 1000;
// Every slot holds the largest packet a TUN (MTU up to 65535) or a UDP socket can hand over, so
// `ip link set IF mtu N` at run time needs nothing resized: packets of any MTU pass whole. Slots
// are only touched as far as packets reach, so the memory in use follows the traffic.
const RING_DATA_BYTES = PACKET_BYTES_MAX;

/** A Worker with its report stream and the promise of its "stopped". */
class WorkerHandle<Request, Report extends { type: string }> {
  readonly worker: Worker;
  readonly stopped: Promise<void>;
  #markStopped!: () => void;

  constructor(
    file: string,
    onReport: (report: Report) => void,
    onError: (error: unknown) => void,
    /** Called after each message posted (the engine's wake eventfd). */
    readonly afterPost: () => void = () => {},
  ) {
    this.worker = new Worker(new URL(file, import.meta.url), { type: "module" });
    this.stopped = new Promise((resolve) => this.#markStopped = resolve);
    this.worker.onmessage = (event: MessageEvent<Report>) => {
      if (event.data.type === "stopped") this.#markStopped();
      onReport(event.data);
    };
    this.worker.onerror = (event) => {
      event.preventDefault();
      onError(event.message);
      this.#markStopped();
    };
  }

  post(message: Request, transfer: Transferable[] = []): void {
    this.worker.postMessage(message, transfer);
    this.afterPost();
  }

  /** Sends the shutdown message and waits for the Worker to exit (terminates it if it hangs). */
  async shutdown(message: Request): Promise<void> {
    this.post(message);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(() => resolve("late"), STOP_TIMEOUT_MS)
    );
    const outcome = await Promise.race([this.stopped.then(() => "ok" as const), late]);
    clearTimeout(timer);
    if (outcome === "late") log.warn("worker did not stop in time; terminating it");
    this.worker.terminate();
  }
}

type EngineHandle = WorkerHandle<EngineRequest, EngineReport>;

interface UdpSide {
  sockets: UdpSockets;
  rings: { ring4: PacketRing | null; ring6: PacketRing | null };
}

/** Internal options `burrow wg` needs beyond the public ones. */
export interface DeviceInternals {
  /** Generate a private key when none is given (the API default); `burrow wg` starts without one. */
  generateKey: boolean;
  /** UAPI socket directory (tests). */
  uapiDirectory?: string;
  /** An open TUN descriptor to use instead of creating the interface (WG_TUN_FD). */
  tunFd?: number;
  /** An open, listening UAPI socket to serve instead of creating one (WG_UAPI_FD). */
  uapiFd?: number;
}

class WgDevice implements Device {
  readonly name: string;
  readonly closed: Promise<void>;
  #publicKey: Uint8Array;
  #listenPort = 0;
  #fwmark = 0;
  #tunFd = -1;
  #tunOffload: TunOffload = "none";
  #tunRing!: PacketRing;
  /** The engine's wake eventfd, written after each message posted to it. */
  #wakeFd = -1;
  #udp: UdpSide | null = null;
  #engine: EngineHandle | null = null;
  #uapi: UapiServer | null = null;
  #nextId = 1;
  #pending = new Map<number, (report: EngineReport) => void>();
  #closing: Promise<void> | null = null;
  #markClosed!: () => void;
  #linkTimer: ReturnType<typeof setTimeout> | undefined;
  #link: TunLink | null = null;
  #mtu: number;
  /** Serializes configuration changes so each is applied whole, in arrival order. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #log;

  constructor(readonly options: DeviceOptions, readonly internals: DeviceInternals) {
    this.name = options.name;
    this.#mtu = options.mtu ?? DEFAULT_MTU;
    this.#publicKey = new Uint8Array(32);
    this.closed = new Promise((resolve) => this.#markClosed = resolve);
    this.#log = log.with({ interface: options.name });
  }

  get publicKey(): Uint8Array {
    return this.#publicKey;
  }
  get listenPort(): number {
    return this.#listenPort;
  }

  async start(): Promise<void> {
    let privateKey = this.options.privateKey ?? null;
    if (!privateKey && this.internals.generateKey) privateKey = generatePrivateKey();
    if (privateKey) {
      privateKey = clampPrivateKey(privateKey.slice());
      this.#publicKey = publicKeyOf(privateKey);
    }
    const inherited = this.internals.tunFd !== undefined;
    const wanted = offloadsWanted();
    this.#tunFd = inherited ? this.internals.tunFd! : openTun(this.name, wanted);
    this.#tunOffload = negotiateOffload(this.#tunFd, wanted);
    if (!inherited && this.#tunOffload !== (wanted ? "tso" : "none")) {
      // The kernel took the header but refused the offloads: plain packets serve better.
      closeFd(this.#tunFd);
      this.#tunFd = openTun(this.name);
      this.#tunOffload = "none";
    }
    this.#link = new TunLink(this.#tunFd);
    this.#tunRing = PacketRing.create(RING_SLOTS, RING_DATA_BYTES);
    this.#udp = this.#openUdp(this.options.listenPort ?? 0);
    this.#listenPort = this.#udp.sockets.port;
    try {
      await setLinkUp(this.name, this.#mtu);
    } catch (error) {
      // An inherited interface may live elsewhere already; its owner sets it up.
      if (!inherited) throw error;
      this.#mtu = this.#link.state()?.mtu ?? this.#mtu;
      this.#log.warn("cannot set up the inherited interface", { error: String(error) });
    }
    this.#wakeFd = openWakeFd();
    const wakeFd = this.#wakeFd;
    this.#engine = new WorkerHandle<EngineRequest, EngineReport>(
      "./engine_worker.ts",
      (report) => this.#onEngineReport(report),
      (error) => this.#fail("engine worker crashed", error),
      () => signalWake(wakeFd),
    );
    const started = this.#engineStarted();
    this.#engine.post({
      type: "start",
      config: {
        tunFd: this.#tunFd,
        tunOffload: this.#tunOffload,
        mtu: this.#mtu,
        tunRing: this.#tunRing.buffer,
        wakeFd,
        sockets: this.#engineSockets(this.#udp),
        privateKey,
        reportForeign: this.options.onForeignDatagram !== undefined,
      },
    });
    await started;
    if (this.options.uapi ?? true) {
      this.#uapi = await listenUapi(
        this.name,
        {
          get: () => this.#snapshot(),
          set: (change) => this.#applyUapi(change),
        },
        this.internals.uapiDirectory,
        this.internals.uapiFd,
      );
      // Removing the socket is how wireguard-go is told to exit; burrow does the same.
      this.#uapi.removed.then(() => {
        this.#log.info("uapi socket removed; closing the device");
        this.close();
      });
    }
    this.#watchLink();
  }

  #openUdp(port: number): UdpSide {
    const sockets = openUdpSockets(port, this.#fwmark);
    const dataBytes = RING_DATA_BYTES;
    const ring4 = sockets.fd4 >= 0 ? PacketRing.create(RING_SLOTS, dataBytes) : null;
    const ring6 = sockets.fd6 >= 0 ? PacketRing.create(RING_SLOTS, dataBytes) : null;
    return { sockets, rings: { ring4, ring6 } };
  }

  #engineSockets(udp: UdpSide): EngineSockets {
    return {
      fd4: udp.sockets.fd4,
      fd6: udp.sockets.fd6,
      port: udp.sockets.port,
      ring4: udp.rings.ring4?.buffer ?? null,
      ring6: udp.rings.ring6?.buffer ?? null,
    };
  }

  /**
   * Asks the TUN descriptor about its interface every second: gone (deleted in whatever namespace
   * it lives now) ends the device, next to the engine's EBADFD on the TUN; a new MTU goes to the engine
   * (padding). Never by name in this namespace: the interface may have been moved away.
   */
  #watchLink(): void {
    this.#linkTimer = setTimeout(() => {
      if (this.#closing || !this.#link) return;
      let state;
      try {
        state = this.#link.state();
      } catch (error) {
        this.#log.warn("cannot ask the tun descriptor about its interface", {
          error: String(error),
        });
        state = undefined;
      }
      if (state === null) {
        this.#log.info("interface is gone; closing the device");
        this.close();
        return;
      }
      if (state?.mtu && state.mtu !== this.#mtu) {
        this.#log.info("interface mtu changed", { from: this.#mtu, to: state.mtu });
        this.#mtu = state.mtu;
        this.#engine?.post({ type: "mtu", mtu: state.mtu });
      }
      this.#watchLink();
    }, LINK_CHECK_MS);
  }

  #fail(what: string, error: unknown): void {
    this.#log.error(what, { error: String(error) });
    this.close();
  }

  #onEngineReport(report: EngineReport): void {
    if (report.type === "error") {
      this.#log.error("engine error", { error: report.message });
      return;
    }
    if (report.type === "failed") {
      if (report.kind === "tun") {
        this.#log.info("interface is gone; closing the device", { errno: report.errno });
        this.close();
      } else {
        this.#log.warn("udp socket failed", { errno: report.errno });
      }
      return;
    }
    if (report.type === "foreign") {
      try {
        this.options.onForeignDatagram?.(report.data, report.from);
      } catch (error) {
        this.#log.warn("foreign datagram handler failed", { error: String(error) });
      }
      return;
    }
    if (report.type === "started") {
      this.#log.info("engine started", { aead: report.aead, tunOffload: this.#tunOffload });
      this.#started?.(report);
      return;
    }
    if (!("id" in report)) return;
    const waiter = this.#pending.get(report.id);
    if (waiter) {
      this.#pending.delete(report.id);
      waiter(report);
    }
  }

  #started: ((report: EngineReport) => void) | null = null;
  #engineStarted(): Promise<EngineReport> {
    return new Promise((resolve) => this.#started = resolve);
  }

  #request(message: EngineRequest & { id: number }): Promise<EngineReport> {
    if (this.#closing || !this.#engine) {
      return Promise.reject(new Error(`Cannot configure ${this.name}: the device is closed`));
    }
    const answer = new Promise<EngineReport>((resolve) => this.#pending.set(message.id, resolve));
    this.#engine.post(message);
    return answer;
  }

  #serialized<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task, task);
    this.#queue = result.catch(() => {});
    return result;
  }

  #snapshot(): Promise<UapiSnapshot> {
    return this.#serialized(async () => {
      const report = await this.#request({ type: "get", id: this.#nextId++ });
      if (report.type !== "snapshot") throw new Error("unexpected engine answer");
      return report.snapshot;
    });
  }

  /** Applies a whole change set: rebinding first (the only step that can fail), then the rest. */
  #applyUapi(change: UapiSet): Promise<number> {
    return this.#serialized(async () => {
      if (this.#closing || !this.#udp) return UAPI_ERRNO.io;
      let fresh: UdpSide | null = null;
      if (change.listenPort !== undefined && change.listenPort !== this.#listenPort) {
        try {
          fresh = this.#openUdp(change.listenPort);
        } catch (error) {
          this.#log.warn("cannot bind the new listen port", { error: String(error) });
          return error instanceof SyscallError ? UAPI_ERRNO.portInUse : UAPI_ERRNO.io;
        }
      }
      const report = await this.#request({
        type: "apply",
        id: this.#nextId++,
        change,
        sockets: fresh ? this.#engineSockets(fresh) : undefined,
      });
      if (report.type !== "applied") return UAPI_ERRNO.io;
      if (fresh) {
        const old = this.#udp;
        this.#udp = fresh;
        this.#listenPort = fresh.sockets.port;
        // The engine answered: it no longer reads the old sockets.
        closeUdpSockets(old.sockets);
      }
      if (change.fwmark !== undefined) {
        this.#fwmark = change.fwmark;
        setFwmark(this.#udp.sockets, change.fwmark);
      }
      if (report.publicKey !== undefined) {
        this.#publicKey = report.publicKey ?? new Uint8Array(32);
      }
      return report.errno;
    });
  }

  async setPeer(settings: PeerSettings): Promise<void> {
    const allowedIps = settings.allowedIps.map((text) => {
      const cidr = parseCidr(text);
      if (!cidr) throw new TypeError(`Cannot set the peer: bad allowed IP, received ${text}`);
      return formatCidr(cidr);
    });
    let endpoint: { address: string; port: number } | undefined;
    if (settings.endpoint !== undefined) {
      const split = parseHostPort(settings.endpoint);
      if (!split) {
        throw new TypeError(`Cannot set the peer: bad endpoint, received ${settings.endpoint}`);
      }
      endpoint = { address: await resolveHost(split.host), port: split.port };
    }
    const errno = await this.#applyUapi({
      replacePeers: false,
      peers: [{
        publicKey: settings.publicKey,
        remove: false,
        updateOnly: false,
        presharedKey: settings.presharedKey,
        endpoint,
        persistentKeepaliveS: settings.persistentKeepaliveS,
        replaceAllowedIps: true,
        allowedIps,
      }],
    });
    if (errno !== 0) {
      throw new Error(`Cannot set the peer ${keyToBase64(settings.publicKey)}: errno ${errno}`);
    }
  }

  async removePeer(publicKey: Uint8Array): Promise<void> {
    const errno = await this.#applyUapi({
      replacePeers: false,
      peers: [{
        publicKey,
        remove: true,
        updateOnly: false,
        replaceAllowedIps: false,
        allowedIps: [],
      }],
    });
    if (errno !== 0) throw new Error(`Cannot remove the peer: errno ${errno}`);
  }

  async peers(): Promise<PeerStatus[]> {
    const snapshot = await this.#snapshot();
    return snapshot.peers.map((peer) => ({
      publicKey: peer.publicKey,
      endpoint: peer.endpoint ? formatEndpoint(peer.endpoint) : null,
      rxBytes: peer.rxBytes,
      txBytes: peer.txBytes,
      lastHandshakeMs: peer.lastHandshakeMs,
      allowedIps: peer.allowedIps,
    }));
  }

  async addAddress(cidr: string): Promise<void> {
    if (!parseCidr(cidr)) throw new TypeError(`Cannot add the address: bad CIDR, received ${cidr}`);
    await addLinkAddress(this.name, cidr);
  }

  async addRoute(cidr: string): Promise<void> {
    if (!parseCidr(cidr)) throw new TypeError(`Cannot add the route: bad CIDR, received ${cidr}`);
    await addLinkRoute(this.name, cidr);
  }

  // deno-lint-ignore require-await -- async so that every refusal is a rejection
  async sendDatagram(to: string, data: Uint8Array): Promise<void> {
    const endpoint = parseEndpoint(to);
    if (!endpoint) {
      throw new TypeError(`Cannot send the datagram: not an IP address and port, received ${to}`);
    }
    if (data.length > FOREIGN_MAX_BYTES) {
      throw new RangeError(
        `Cannot send the datagram: at most ${FOREIGN_MAX_BYTES} bytes, received ${data.length}`,
      );
    }
    if (this.#closing || !this.#engine) {
      throw new Error(`Cannot send from ${this.name}: the device is closed`);
    }
    const copy = data.slice();
    this.#engine.post({ type: "send", to: endpoint, data: copy }, [copy.buffer]);
  }

  close(): Promise<void> {
    this.#closing ??= this.#teardown();
    return this.#closing;
  }

  async #teardown(): Promise<void> {
    clearTimeout(this.#linkTimer);
    try {
      await this.#uapi?.close();
    } catch (error) {
      this.#log.warn("cannot remove the uapi socket", { error: String(error) });
    }
    await this.#engine?.shutdown({ type: "shutdown" });
    if (this.#wakeFd >= 0) closeFd(this.#wakeFd);
    this.#wakeFd = -1;
    for (const [id, waiter] of this.#pending) {
      this.#pending.delete(id);
      waiter({ type: "error", message: "device closed" });
    }
    if (this.#udp) closeUdpSockets(this.#udp.sockets);
    // Closing the last descriptor of a non-persistent TUN deletes the interface.
    this.#link?.close();
    if (this.#tunFd >= 0) closeFd(this.#tunFd);
    this.#tunFd = -1;
    this.#markClosed();
  }
}

async function resolveHost(host: string): Promise<string> {
  if (parseIp(host)) return host;
  for (const type of ["A", "AAAA"] as const) {
    try {
      const answers = await Deno.resolveDns(host, type);
      if (answers.length > 0) return answers[0];
    } catch { /* try the other family */ }
  }
  throw new Error(`Cannot resolve the endpoint host ${host}`);
}

/**
 * Creates the interface, binds UDP (IPv4 and IPv6), starts the Workers and the UAPI socket;
 * the interface is up when this resolves.
 *
 * @throws {SyscallError} when the TUN cannot be created (EPERM, EBUSY) or the port is taken
 */
export async function createDevice(options: DeviceOptions): Promise<Device> {
  return await startDevice(options, { generateKey: true });
}

/** {@linkcode createDevice} with the knobs `burrow wg` needs. */
export async function startDevice(
  options: DeviceOptions,
  internals: DeviceInternals,
): Promise<Device> {
  const device = new WgDevice(options, internals);
  try {
    await device.start();
  } catch (error) {
    await device.close();
    throw error;
  }
  return device;
}
