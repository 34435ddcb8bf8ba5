// The WireGuard device: TUN + UDP + peer loops in Workers + UAPI. The agent, the hub and `burrow wg` use this.

export type {
  Device,
  DeviceOptions,
  ForeignDatagramHandler,
  PeerSettings,
  PeerStatus,
} from "./types.ts";
export { createDevice } from "./device.ts";
