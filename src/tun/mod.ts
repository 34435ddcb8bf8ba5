// The WireGuard device: TUN + UDP + peer loops in Workers + UAPI. The agent, the hub and `burrow wg` use this.

export type { Device, DeviceOptions, PeerSettings, PeerStatus } from "./types.ts";
export { createDevice, startDevice } from "./device.ts";
export { adoptTun, isValidInterfaceName } from "./tun.ts";
export { generatePrivateKey, publicKeyOf } from "./keys.ts";
