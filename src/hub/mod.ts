// `burrow hub`'s pieces for the CLI and for other parts of burrow: the running hub, its store
// and the wireguard-go tunnel alternative.

export { Hub, type HubConfig, type TunnelFactory } from "./hub.ts";
export { type ClientRecord, HubStore, hubTunnelAddress, StoreConflict } from "./client_store.ts";
export { createWireguardGoDevice } from "./wireguard_go_device.ts";
export { answerProbe, answerTestRequest, testRequestResponder } from "./probe_answer.ts";
export { type Access, checkOrg, type Resource, ResourceStore } from "./resource_store.ts";
