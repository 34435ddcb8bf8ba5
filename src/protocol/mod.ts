// The door of protocol/: one wire module per burrow protocol, imported by both ends (agent and
// hub) and by the local API, so neither end imports the other.

export * from "./control.ts";
export {
  compileFirewall,
  firewallAllows,
  type FirewallCheck,
  type FirewallRuleInput,
} from "./firewall.ts";
export {
  decodePortMapAnswer,
  decodePortMapRequest,
  encodePortMapAnswer,
  encodePortMapRequest,
  frameDatagram,
  PORT_MAP_MAX_DATAGRAM_BYTES,
  PORT_MAP_MAX_LINE_BYTES,
  PORT_MAP_SERVICE_PORT,
  type PortMapAnswer,
  PortMapRefused,
  type PortMapRequest,
  readDatagrams,
  readPortMapLine,
  unframeDatagrams,
} from "./portmap_frames.ts";
export {
  describeIssues,
  describeObject,
  type FirewallRule,
  type HttpsRule,
  httpsRuleSchema,
  type HubHttpsRule,
  type HubPortMapRule,
  type HubPortRule,
  type HubRules,
  MAX_RULES_PER_KIND,
  parseRulesSync,
  parseTrafficKeys,
  parseTrafficRules,
  type PortMapRule,
  portMapRuleSchema,
  type PortRule,
  portRuleSchema,
  publicHttpsRule,
  releaseSchema,
  RuleError,
  type SyncResult,
  type TrafficKeys,
  trafficKeySchemas,
  type TrafficRules,
} from "./rules_sync.ts";
export { parseDurationMs } from "./duration.ts";
export { stringifyJson } from "./exact_json.ts";
export {
  answerProbe,
  answerTestRequest,
  TEST_NONCE_BYTES,
  testRequest,
  testResponseNonce,
} from "./probe_replies.ts";
export {
  type Announcement,
  type AnnouncePayload,
  looksLikeAnnouncement,
  MAX_ANNOUNCE_BYTES,
  openAnnouncement,
  sealAnnouncement,
} from "./endpoint_announce.ts";
export {
  isAliasName,
  parseUpstreams,
  SITE_CLIENTS,
  SITE_SERVER_PORT,
  type SiteClient,
  type SiteClientsMessage,
  siteClientsSchema,
  type Upstream,
} from "./resources.ts";
export { HUB_MAX_FRAME_BYTES, requestFrameBytes } from "./frame_limit.ts";
export type { AgentStatusJson, NetworkSettingsJson, PeerStatusJson } from "./local_api_status.ts";
