// The hub's memory: one SQLite database (node:sqlite) in the state directory holding clients,
// their hashed secrets, stable tunnel addresses, WireGuard keys, port allocations, claimed
// domains and the last synced rules. Versioned migrations; other processes (`burrow hub client
// remove`) write the same file and the running hub notices through PRAGMA data_version.

import { DatabaseSync } from "node:sqlite";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { cidrContains, formatIp, parseCidr, parseIp } from "../net/mod.ts";

export const DATABASE_FILE = "hub.db";

/** One registered agent as the hub sees it (never its secret). */
export interface ClientRecord {
  id: string;
  name: string;
  /** Stable tunnel address without prefix, or null before the first registration. */
  tunnelIP: string | null;
  /** WireGuard public key (base64) from the last registration, or null. */
  publicKey: string | null;
  createdAt: number;
  /** Whether a running hub has a registered session of this agent. */
  online: boolean;
  /** When the hub last heard from the agent (ms since the epoch), or null if never. */
  lastSeen: number | null;
  /** The version the agent reported at its last registration, or null if never. */
  agentVersion: string | null;
}

/** The rules an agent last synced, kept verbatim for ingress after a restart. */
export interface StoredRules {
  revision: number;
  body: string;
}

/** A refused change: `code` is machine-readable, `message` is safe to show the agent. */
export class StoreConflict extends Error {
  override name = "StoreConflict";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

// Each entry moves the schema from version i to i+1; append, never edit a shipped one.
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE clients (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     tunnel_ip TEXT UNIQUE,
     public_key TEXT UNIQUE,
     created_at INTEGER NOT NULL
   );`,
  `CREATE TABLE ports (
     port INTEGER PRIMARY KEY,
     client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
     allocated_at INTEGER NOT NULL
   );
   CREATE INDEX ports_client ON ports(client_id);
   CREATE TABLE domains (
     domain TEXT PRIMARY KEY,
     client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE
   );
   CREATE INDEX domains_client ON domains(client_id);
   CREATE TABLE rules (
     client_id TEXT PRIMARY KEY REFERENCES clients(id) ON DELETE CASCADE,
     revision INTEGER NOT NULL,
     body TEXT NOT NULL
   );`,
  // Presence, written by the running hub and read by `burrow hub client list`.
  `ALTER TABLE clients ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE clients ADD COLUMN last_seen INTEGER;
   ALTER TABLE clients ADD COLUMN agent_version TEXT;`,
];

/** The schema version a fully migrated database has. */
export const SCHEMA_VERSION = MIGRATIONS.length;

// scrypt cost: about 80 ms per hash here, slow enough to make guessing expensive.
const SCRYPT = { N: 1 << 15, r: 8, p: 1, keyLength: 32, maxmem: 64 * 1024 * 1024 };

function scryptAsync(secret: string, salt: Uint8Array, N: number, r: number, p: number) {
  return new Promise<Uint8Array>((resolve, reject) => {
    scrypt(secret, salt, SCRYPT.keyLength, { N, r, p, maxmem: SCRYPT.maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(new Uint8Array(key));
    });
  });
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = new Uint8Array(randomBytes(16));
  const key = await scryptAsync(secret, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${b64(salt)}$${b64(key)}`;
}

/** Whether `secret` matches a hash from {@linkcode hashSecret}; constant time in the hash. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const expected = unb64(parts[5]);
  const key = await scryptAsync(secret, unb64(parts[4]), N, r, p);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

// A hash of a random secret, verified against when the id is unknown so that a wrong id
// costs the same time as a wrong secret.
let decoyHash: Promise<string> | null = null;

function randomId(): string {
  // 16 characters of base32 (80 bits): readable, no padding, fine in URLs and shell.
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  const bytes = randomBytes(16);
  return Array.from(bytes, (b) => alphabet[b & 31]).join("");
}

function randomSecret(): string {
  return b64(new Uint8Array(randomBytes(32))).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/**
 * The hub database. Methods are synchronous (node:sqlite is), except those that hash.
 *
 * @example Open, add a client, verify it
 * ```ts
 * const store = HubStore.open("/var/lib/burrow-hub");
 * const { id, secret } = await store.addClient("router");
 * await store.verifyClient(id, secret); // true
 * ```
 */
export class HubStore {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * Opens (creating when missing) `DIR/hub.db`, directory 0700 and file 0600, and migrates.
   *
   * @param stateDir the hub's state directory
   * @param upTo migrate only this far (tests of the migrations themselves)
   */
  static open(stateDir: string, upTo = SCHEMA_VERSION): HubStore {
    Deno.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const path = `${stateDir}/${DATABASE_FILE}`;
    const db = new DatabaseSync(path);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      try {
        Deno.chmodSync(file, 0o600);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA foreign_keys = ON");
    const store = new HubStore(db);
    store.#migrate(upTo);
    return store;
  }

  close(): void {
    this.#db.close();
  }

  #migrate(upTo: number): void {
    const current = this.schemaVersion();
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `Cannot open the hub database: schema version ${current} is newer than this burrow (${SCHEMA_VERSION})`,
      );
    }
    for (let version = current; version < upTo; version++) {
      this.#transaction(() => {
        this.#db.exec(MIGRATIONS[version]);
        this.#db.exec(`PRAGMA user_version = ${version + 1}`);
      });
    }
  }

  #transaction<T>(fn: () => T): T {
    return immediateTransaction(this.#db, fn);
  }

  schemaVersion(): number {
    const row = this.#db.prepare("PRAGMA user_version").get() as { user_version: number };
    return row.user_version;
  }

  /** Changes whenever another connection (another process) commits to the database. */
  dataVersion(): number {
    const row = this.#db.prepare("PRAGMA data_version").get() as { data_version: number };
    return row.data_version;
  }

  setting(key: string): string | null {
    const row = this.#db.prepare("SELECT value FROM settings WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value ?? null;
  }

  setSetting(key: string, value: string): void {
    this.#db.prepare(
      "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    ).run(key, value);
  }

  // ---- clients

  /**
   * Registers a new client and returns its id and secret; the secret is stored only hashed
   * and cannot be read back.
   */
  async addClient(name = ""): Promise<{ id: string; secret: string }> {
    const id = randomId();
    const secret = randomSecret();
    const hash = await hashSecret(secret);
    this.#db.prepare(
      "INSERT INTO clients (id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)",
    ).run(id, name, hash, Date.now());
    return { id, secret };
  }

  /** Whether `id` exists and `secret` is its secret. Same cost for an unknown id. */
  async verifyClient(id: string, secret: string): Promise<boolean> {
    const row = this.#db.prepare("SELECT secret_hash FROM clients WHERE id = ?").get(id) as
      | { secret_hash: string }
      | undefined;
    if (!row) {
      decoyHash ??= hashSecret(randomSecret());
      await verifySecret(secret, await decoyHash);
      return false;
    }
    return await verifySecret(secret, row.secret_hash);
  }

  getClient(id: string): ClientRecord | null {
    const row = this.#db.prepare(
      `SELECT ${CLIENT_COLUMNS} FROM clients WHERE id = ?`,
    ).get(id) as ClientRow | undefined;
    return row ? toClient(row) : null;
  }

  listClients(): ClientRecord[] {
    const rows = this.#db.prepare(
      `SELECT ${CLIENT_COLUMNS} FROM clients ORDER BY created_at, id`,
    ).all() as unknown as ClientRow[];
    return rows.map(toClient);
  }

  // ---- presence (the running hub writes, `hub client list` reads)

  /** The agent registered a session and reported `agentVersion`. */
  markOnline(id: string, agentVersion: string): void {
    this.#db.prepare(
      "UPDATE clients SET online = 1, last_seen = ?, agent_version = ? WHERE id = ?",
    ).run(Date.now(), agentVersion, id);
  }

  /** The hub heard from the agent (any message of a registered session). */
  touchClient(id: string): void {
    this.#db.prepare("UPDATE clients SET last_seen = ? WHERE id = ?").run(Date.now(), id);
  }

  /** The agent's session ended. */
  markOffline(id: string): void {
    this.#db.prepare("UPDATE clients SET online = 0, last_seen = ? WHERE id = ? AND online = 1")
      .run(Date.now(), id);
  }

  /** No session survives a hub start or stop. */
  markAllOffline(): void {
    this.#db.prepare("UPDATE clients SET online = 0 WHERE online = 1").run();
  }

  /** Deletes a client with its ports, domains and rules. */
  removeClient(id: string): boolean {
    return this.#db.prepare("DELETE FROM clients WHERE id = ?").run(id).changes > 0;
  }

  /**
   * The client's tunnel address inside `cidr`: the stored one when it still fits, else the
   * lowest free host address after `reserved` (the hub's own), stored for next time.
   *
   * @throws {StoreConflict} when the network is full
   */
  assignTunnelIp(id: string, cidr: string, reserved: string): string {
    const network = parseCidr(cidr);
    if (!network || network.bytes.length !== 4) {
      throw new TypeError(`Cannot assign tunnel addresses: IPv4 CIDR expected, received ${cidr}`);
    }
    return this.#transaction(() => {
      const current = this.getClient(id);
      if (!current) throw new StoreConflict("unknown_client", "client no longer exists");
      if (current.tunnelIP) {
        const bytes = parseIp(current.tunnelIP);
        if (bytes && cidrContains(network, bytes) && current.tunnelIP !== reserved) {
          return current.tunnelIP;
        }
      }
      const taken = new Set(
        (this.#db.prepare("SELECT tunnel_ip FROM clients WHERE tunnel_ip IS NOT NULL").all() as {
          tunnel_ip: string;
        }[]).map((r) => r.tunnel_ip),
      );
      taken.add(reserved);
      const base = ipv4ToNumber(network.bytes);
      const size = 2 ** (32 - network.bits);
      for (let offset = 1; offset < size - 1; offset++) {
        const candidate = numberToIpv4(base + offset);
        if (taken.has(candidate)) continue;
        this.#db.prepare("UPDATE clients SET tunnel_ip = ? WHERE id = ?").run(candidate, id);
        return candidate;
      }
      throw new StoreConflict("tunnel_full", `no free tunnel address left in ${cidr}`);
    });
  }

  /**
   * Records the client's WireGuard public key.
   *
   * @throws {StoreConflict} when another client registered the same key
   */
  setPublicKey(id: string, publicKey: string): void {
    const other = this.#db.prepare("SELECT id FROM clients WHERE public_key = ? AND id != ?")
      .get(publicKey, id);
    if (other) {
      throw new StoreConflict("key_in_use", "this public key is registered by another client");
    }
    this.#db.prepare("UPDATE clients SET public_key = ? WHERE id = ?").run(publicKey, id);
  }

  // ---- ports

  /**
   * Allocates the lowest free port of `range` for the client.
   *
   * @param usable extra check, e.g. that the hub can bind the port; skipped ports stay free
   * @returns the port, or null when none is left
   */
  allocatePort(
    id: string,
    range: { first: number; last: number },
    usable: (port: number) => boolean = () => true,
  ): number | null {
    return this.#transaction(() => {
      const taken = new Set(
        (this.#db.prepare("SELECT port FROM ports").all() as { port: number }[]).map((r) => r.port),
      );
      for (let port = range.first; port <= range.last; port++) {
        if (taken.has(port) || !usable(port)) continue;
        this.#db.prepare("INSERT INTO ports (port, client_id, allocated_at) VALUES (?, ?, ?)")
          .run(port, id, Date.now());
        return port;
      }
      return null;
    });
  }

  /** Releases a port the client holds; false when it holds no such port. */
  releasePort(id: string, port: number): boolean {
    return this.#transaction(() => {
      const released = this.#db.prepare("DELETE FROM ports WHERE port = ? AND client_id = ?")
        .run(port, id).changes > 0;
      // The port's forwarding rule goes with it, so a later allocation starts clean.
      const rules = this.rulesOf(id);
      if (released && rules) {
        const body = JSON.parse(rules.body);
        if (Array.isArray(body.ports)) {
          body.ports = body.ports.filter((rule: { port?: unknown }) => rule.port !== port);
          this.#db.prepare("UPDATE rules SET body = ? WHERE client_id = ?")
            .run(JSON.stringify(body), id);
        }
      }
      return released;
    });
  }

  portsOf(id: string): number[] {
    return (this.#db.prepare("SELECT port FROM ports WHERE client_id = ? ORDER BY port").all(
      id,
    ) as {
      port: number;
    }[]).map((r) => r.port);
  }

  allPorts(): { port: number; clientId: string }[] {
    return (this.#db.prepare("SELECT port, client_id FROM ports ORDER BY port").all() as {
      port: number;
      client_id: string;
    }[]).map((r) => ({ port: r.port, clientId: r.client_id }));
  }

  // ---- domains and rules

  domainsOf(id: string): string[] {
    return (this.#db.prepare("SELECT domain FROM domains WHERE client_id = ? ORDER BY domain")
      .all(id) as { domain: string }[]).map((r) => r.domain);
  }

  allDomains(): { domain: string; clientId: string }[] {
    return (this.#db.prepare("SELECT domain, client_id FROM domains ORDER BY domain").all() as {
      domain: string;
      client_id: string;
    }[]).map((r) => ({ domain: r.domain, clientId: r.client_id }));
  }

  rulesOf(id: string): StoredRules | null {
    const row = this.#db.prepare("SELECT revision, body FROM rules WHERE client_id = ?").get(id) as
      | StoredRules
      | undefined;
    return row ? { revision: row.revision, body: row.body } : null;
  }

  /**
   * Makes `domains` exactly the client's claimed domains and stores `body` as its rules,
   * all in one transaction: nothing changes when any check fails.
   *
   * @param domains lower-case domain names
   * @param ports the ports the rules use; each must be allocated to this client
   * @throws {StoreConflict} naming the first domain or port that belongs to someone else
   */
  applyRules(id: string, revision: number, domains: string[], ports: number[], body: string): void {
    this.#transaction(() => {
      if (!this.getClient(id)) throw new StoreConflict("unknown_client", "client no longer exists");
      const owner = this.#db.prepare("SELECT client_id FROM domains WHERE domain = ?");
      for (const domain of domains) {
        const row = owner.get(domain) as { client_id: string } | undefined;
        if (row && row.client_id !== id) {
          throw new StoreConflict(
            "domain_taken",
            `domain ${domain} is claimed by another client`,
          );
        }
      }
      const portOwner = this.#db.prepare("SELECT client_id FROM ports WHERE port = ?");
      for (const port of ports) {
        const row = portOwner.get(port) as { client_id: string } | undefined;
        if (!row || row.client_id !== id) {
          throw new StoreConflict("port_not_allocated", `port ${port} is not allocated to you`);
        }
      }
      this.#db.prepare("DELETE FROM domains WHERE client_id = ?").run(id);
      const insert = this.#db.prepare("INSERT INTO domains (domain, client_id) VALUES (?, ?)");
      for (const domain of domains) insert.run(domain, id);
      this.#db.prepare(
        "INSERT INTO rules (client_id, revision, body) VALUES (?, ?, ?) " +
          "ON CONFLICT(client_id) DO UPDATE SET revision = excluded.revision, body = excluded.body",
      ).run(id, revision, body);
    });
  }
}

const CLIENT_COLUMNS =
  "id, name, tunnel_ip, public_key, created_at, online, last_seen, agent_version";

interface ClientRow {
  id: string;
  name: string;
  tunnel_ip: string | null;
  public_key: string | null;
  created_at: number;
  online: number;
  last_seen: number | null;
  agent_version: string | null;
}

function toClient(row: ClientRow): ClientRecord {
  return {
    id: row.id,
    name: row.name,
    tunnelIP: row.tunnel_ip,
    publicKey: row.public_key,
    createdAt: row.created_at,
    online: row.online === 1,
    lastSeen: row.last_seen,
    agentVersion: row.agent_version,
  };
}

function ipv4ToNumber(bytes: Uint8Array): number {
  return ((bytes[0] << 24) >>> 0) + (bytes[1] << 16) + (bytes[2] << 8) + bytes[3];
}

function numberToIpv4(value: number): string {
  return formatIp(
    new Uint8Array([(value >>> 24) & 255, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]),
  );
}

/**
 * Runs `fn` in one write transaction on `db` (taken at once: no deadlock between two writers
 * of the hub's file), committed when it returns, rolled back when it throws.
 */
export function immediateTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}

/** The hub's own tunnel address: the first host of the tunnel network. */
export function hubTunnelAddress(cidr: string): string {
  const network = parseCidr(cidr);
  if (!network || network.bytes.length !== 4 || network.bits > 30) {
    throw new TypeError(
      `Cannot use tunnel network: IPv4 CIDR of /30 or wider expected, received ${cidr}`,
    );
  }
  return numberToIpv4(ipv4ToNumber(network.bytes) + 1);
}
