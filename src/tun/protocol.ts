// The only contract between the device's main thread and its Workers: every message either way.
// Configuration travels by structured clone; packets never do (they live in SharedArrayBuffer rings).

import type { UapiSet, UapiSnapshot } from "./uapi.ts";

/** Which descriptor a reader Worker drains into its ring. */
export type ReaderKind = "tun" | "udp";

/** One descriptor a reader drains, and the ring it fills. */
export interface ReaderSource {
  kind: ReaderKind;
  fd: number;
  ring: SharedArrayBuffer;
}

/** Main thread -> reader Worker. One reader serves the TUN and both UDP sockets. */
export type ReaderRequest =
  | { type: "start"; sources: ReaderSource[]; bell: SharedArrayBuffer }
  /** Replaces every UDP source (the listen port changed); answered by "udpMoved". */
  | { type: "udp"; id: number; sources: ReaderSource[] }
  | { type: "shutdown" };

/** Reader Worker -> main thread. */
export type ReaderReport =
  | { type: "started" }
  /**
   * A descriptor broke (e.g. the interface was deleted: EBADFD). The reader stops when it was
   * the TUN or its last descriptor, else goes on without it.
   */
  | { type: "failed"; kind: ReaderKind; errno: number }
  /** The old UDP sockets are no longer read (they may be closed now). */
  | { type: "udpMoved"; id: number }
  /** Sent last, just before the Worker closes itself. */
  | { type: "stopped" };

/** The UDP side as the engine sees it: descriptors to send on and rings to receive from. */
export interface EngineSockets {
  fd4: number;
  fd6: number;
  port: number;
  ring4: SharedArrayBuffer | null;
  ring6: SharedArrayBuffer | null;
}

export interface EngineConfig {
  tunFd: number;
  mtu: number;
  tunRing: SharedArrayBuffer;
  bell: SharedArrayBuffer;
  sockets: EngineSockets;
  privateKey: Uint8Array | null;
  /** Pass foreign (non-WireGuard) datagrams to the main thread as "foreign" reports. */
  reportForeign: boolean;
}

/** Main thread -> engine Worker. */
export type EngineRequest =
  | { type: "start"; config: EngineConfig }
  /** Applies a validated change set; `sockets` replaces the UDP side when the port changed. */
  | { type: "apply"; id: number; change: UapiSet; sockets?: EngineSockets }
  | { type: "get"; id: number }
  /** The interface's MTU changed (`ip link set IF mtu N`): the core pads up to it. */
  | { type: "mtu"; mtu: number }
  /** Sends a raw datagram from the WireGuard socket; `data` is transferred. */
  | { type: "send"; to: { address: string; port: number }; data: Uint8Array }
  | { type: "shutdown" };

/** Engine Worker -> main thread. */
export type EngineReport =
  /** `aead`: the transport AEAD chosen (aead_choice.ts); the device logs it. */
  | { type: "started"; publicKey: Uint8Array | null; aead: string }
  | { type: "applied"; id: number; errno: number; publicKey: Uint8Array | null }
  | { type: "snapshot"; id: number; snapshot: UapiSnapshot }
  | { type: "error"; message: string }
  /** A datagram on the WireGuard socket that is no WireGuard message; `data` is transferred. */
  | { type: "foreign"; data: Uint8Array; from: string }
  /** Sent last, just before the Worker closes itself. */
  | { type: "stopped" };
