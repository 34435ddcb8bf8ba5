// The local API's `GET /status` answer as JSON on the wire (olm-api.txt), defined once for the
// session that builds it, the API that serves it and the typed client (src/client) that reads it.

/** One peer (one per site) as `GET /status` reports it. */
export interface PeerStatusJson {
  siteId: number;
  name: string;
  connected: boolean;
  rtt: number;
  lastSeen: string;
  endpoint: string;
  isRelay: boolean;
  peerAddress: string;
  holepunchConnected: boolean;
}

/**
 * `networkSettings`: burrow's `tunnelIP` (with prefix), and once registered newt's snake_case
 * NetworkSettings as real Olm reports them.
 */
export interface NetworkSettingsJson {
  tunnelIP: string;
  mtu?: number;
  /** The DNS proxy's address. */
  dns_servers?: string[];
  ipv4_addresses?: string[];
  ipv4_subnet_masks?: string[];
  ipv4_included_routes?: { destination_address: string; subnet_mask: string }[];
}

/** `GET /status`, plus `error` when the hub refused or ended the session. */
export interface AgentStatusJson {
  connected: boolean;
  registered: boolean;
  terminated: boolean;
  version: string;
  agent: string;
  orgId: string;
  /** One entry per site, keyed by its site id. */
  peers: Record<string, PeerStatusJson>;
  networkSettings: NetworkSettingsJson;
  error?: { code: string; message: string };
}
