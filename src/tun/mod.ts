// The WireGuard device: TUN + UDP + peer loops in Workers + UAPI. The agent, the hub and
// `burrow wg` use this. The packet loop itself (packet_engine.ts) is not exported: it runs in
// the device's Worker, and exporting it here would load the whole WireGuard core into every
// main thread that opens a device. Tests over in-memory fakes import that file directly
// (tests/_support/memory_device.ts).

export type {
  Device,
  DeviceOptions,
  ForeignDatagramHandler,
  PeerSettings,
  PeerStatus,
} from "./types.ts";
export { createDevice, type DeviceInternals, startDevice } from "./device.ts";
export { adoptTun, isValidInterfaceName } from "./tun.ts";
export { FOREIGN_BURST, FOREIGN_MAX_BYTES, FOREIGN_PER_SECOND } from "./foreign_gate.ts";
