// The device on the main thread: owns the TUN, the sockets and the Workers, applies configuration.

import type { Device, DeviceOptions } from "./types.ts";

/**
 * Creates the interface, binds UDP, starts the Workers; the interface is up when this resolves.
 */
export function createDevice(_options: DeviceOptions): Promise<Device> {
  return Promise.reject(new Error("Cannot create the device: not built yet"));
}
