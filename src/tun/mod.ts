// The WireGuard device: TUN + UDP + peer loops in Workers + UAPI. The agent, the hub and
// `burrow wg` use this. The packet loop itself (PacketEngine) is exported for in-process use
// without I/O: tests over in-memory fakes (tests/_support/memory_device.ts), later endpoint
// discovery.

export type {
  Device,
  DeviceOptions,
  ForeignDatagramHandler,
  PeerSettings,
  PeerStatus,
} from "./types.ts";
export { createDevice, type DeviceInternals, startDevice } from "./device.ts";
export { adoptTun, isValidInterfaceName } from "./tun.ts";
export { type EngineOptions, type EngineOutput, PacketEngine } from "./packet_engine.ts";
export { FOREIGN_BURST, FOREIGN_MAX_BYTES, FOREIGN_PER_SECOND } from "./foreign_gate.ts";
