// `burrow hub`'s pieces for the CLI and for other parts of burrow: the running hub, its store,
// the agent-side port-map dialer and the wireguard-go tunnel alternative.

export { Hub, type HubConfig, type TunnelFactory } from "./hub.ts";
export { type ClientRecord, HubStore, hubTunnelAddress, StoreConflict } from "./store.ts";
export {
  dialPortMap,
  type DialPortMapOptions,
  frameDatagram,
  PORT_MAP_SERVICE_PORT,
  PortMapRefused,
  readDatagrams,
  unframeDatagrams,
} from "./portmap_client.ts";
export { createWireguardGoDevice } from "./wireguard_go_device.ts";
export { answerProbe } from "./probe.ts";
export { type Access, checkOrg, type Resource, ResourceStore } from "./resource_store.ts";
