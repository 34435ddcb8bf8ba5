// What the hub keeps, as an interface both storage engines can serve: node:sqlite (the
// embedded default, client_store.ts) answers synchronously, a PostgreSQL store would answer
// with promises, so every result is Awaitable and callers `await` it. Each method is one
// atomic step (a transaction or a single conditional statement), so several hubs sharing one
// database stay correct without locks of their own (docs/scaling.md).

import type { ClientRecord, StoredRules } from "./client_store.ts";

export type Awaitable<T> = T | Promise<T>;

/** A client's current resumption credential, as kept: its SHA-256 (base64) and expiry. */
export interface ResumptionRecord {
  credentialHash: string;
  expiresAt: number;
}

/** One use of a credential: replace `presentedHash` (if unexpired at `now`) by `nextHash`. */
export interface ResumptionSwap {
  presentedHash: string;
  nextHash: string;
  now: number;
  expiresAt: number;
}

export interface HubStateStore {
  // settings
  setting(key: string): Awaitable<string | null>;
  setSetting(key: string, value: string): Awaitable<void>;

  // clients: secrets are kept only as slow hashes
  addClient(name?: string): Promise<{ id: string; secret: string }>;
  addClients(count: number, prefix: string): Promise<{ id: string; secret: string }[]>;
  /** The slow path: scrypt whether or not the id exists. */
  verifyClient(id: string, secret: string): Promise<boolean>;
  getClient(id: string): Awaitable<ClientRecord | null>;
  clientByPublicKey(publicKey: string): Awaitable<ClientRecord | null>;
  listClients(): Awaitable<ClientRecord[]>;
  removeClient(id: string): Awaitable<boolean>;
  // presence: written by the hub that holds the session, read by `hub client list`
  markOnline(id: string, agentVersion: string): Awaitable<void>;
  touchClient(id: string): Awaitable<void>;
  markOffline(id: string): Awaitable<void>;
  markAllOffline(): Awaitable<void>;
  assignTunnelIp(id: string, cidr: string, reserved: string): Awaitable<string>;
  setPublicKey(id: string, publicKey: string): Awaitable<void>;

  // resumption credentials: the fast path of a reconnect
  resumptionOf(id: string): Awaitable<ResumptionRecord | null>;
  setResumption(id: string, credentialHash: string, expiresAt: number): Awaitable<void>;
  /** Compare-and-swap: true when `presentedHash` was current and unexpired, now replaced. */
  swapResumption(id: string, swap: ResumptionSwap): Awaitable<boolean>;
  extendResumptions(ids: readonly string[], expiresAt: number): Awaitable<void>;

  // ports, domains, rules
  allocatePort(
    id: string,
    range: { first: number; last: number },
    usable?: (port: number) => boolean,
  ): Awaitable<number | null>;
  releasePort(id: string, port: number): Awaitable<boolean>;
  portCount(id: string): Awaitable<number>;
  portsOf(id: string): Awaitable<number[]>;
  allPorts(): Awaitable<{ port: number; clientId: string }[]>;
  domainsOf(id: string): Awaitable<string[]>;
  allDomains(): Awaitable<{ domain: string; clientId: string }[]>;
  rulesOf(id: string): Awaitable<StoredRules | null>;
  applyRules(
    id: string,
    revision: number,
    domains: string[],
    ports: number[],
    body: string,
  ): Awaitable<void>;

  /** Changes when another process (or another hub) committed; polled to follow changes. */
  dataVersion(): Awaitable<number>;
  close(): Awaitable<void>;
}
