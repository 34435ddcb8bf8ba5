// The only contract between the device's main thread and its engine Worker: every message either
// way. Configuration travels by structured clone; packets never do (the engine reads them into its
// rings itself). After each message it posts, the main thread writes the wake eventfd.

import type { TunOffload } from "./tun_offload.ts";
import type { UapiSet, UapiSnapshot } from "./uapi.ts";

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
  /** How the TUN descriptor is read and written (tun_offload.ts). */
  tunOffload: TunOffload;
  mtu: number;
  tunRing: SharedArrayBuffer;
  /** The eventfd the engine polls beside its descriptors; written once per message posted. */
  wakeFd: number;
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
  /**
   * A descriptor broke (the interface was deleted: EBADFD). The engine goes on without it; the
   * device closes when it was the TUN.
   */
  | { type: "failed"; kind: "tun" | "udp"; errno: number }
  /** A datagram on the WireGuard socket that is no WireGuard message; `data` is transferred. */
  | { type: "foreign"; data: Uint8Array; from: string }
  /** Sent last, just before the Worker closes itself. */
  | { type: "stopped" };
