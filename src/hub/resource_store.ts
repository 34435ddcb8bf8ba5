// The hub's private resources (docs/private-resources.md): which org each client belongs to,
// the resources sites publish (a destination address or network, an optional alias, who may
// reach it), each site's stable Olm `siteId`, and the relay's session indexes so a restarted
// hub keeps relaying. Its own connection to the hub database (DIR/hub.db, the clients' file),
// its own schema version; clients removed there take their rows here with them (foreign keys).

import { DatabaseSync } from "node:sqlite";
import { randomBytes } from "node:crypto";
import { DomainError } from "../errors/mod.ts";
import { formatCidr, parseCidr } from "../net/mod.ts";
import { isAliasName } from "../protocol/mod.ts";
import { HubStore, immediateTransaction } from "./client_store.ts";

export const DEFAULT_ORG = "default";
/** Who may reach a resource: everybody in its org, or the listed clients (in its org). */
export type Access = "all" | string[];

export interface Resource {
  id: string;
  org: string;
  /** The client id of the agent that publishes it. */
  site: string;
  /** A CIDR; a single address is stored as /32 or /128. */
  destination: string;
  alias: string | null;
  access: Access;
  createdAt: number;
}

export interface NewResource {
  site: string;
  destination: string;
  alias?: string;
  access?: Access;
  org?: string;
}

/** An agent's endpoints as announced (see ./endpoint_registry.ts). */
export interface StoredEndpoint {
  publicKey: string;
  public: string;
  local: string[];
  seenAt: number;
}

/** A relay session index as the relay learned it (see ./relay_sessions.ts). */
export interface StoredRelayIndex {
  index: number;
  owner: string;
  partner: string;
  seenAt: number;
}

const SCHEMA_KEY = "resources_schema_version";
// Each entry moves this part of the schema one version up; append, never edit a shipped one.
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS org_members (
     client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
     org TEXT NOT NULL,
     PRIMARY KEY (client_id, org)
   );
   CREATE TABLE IF NOT EXISTS site_numbers (
     number INTEGER PRIMARY KEY AUTOINCREMENT,
     client_id TEXT NOT NULL UNIQUE REFERENCES clients(id) ON DELETE CASCADE
   );
   CREATE TABLE IF NOT EXISTS resources (
     id TEXT PRIMARY KEY,
     org TEXT NOT NULL,
     site_client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
     destination TEXT NOT NULL,
     alias TEXT,
     access_all INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX IF NOT EXISTS resources_alias ON resources(org, alias) WHERE alias IS NOT NULL;
   CREATE TABLE IF NOT EXISTS resource_access (
     resource_id TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
     client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
     PRIMARY KEY (resource_id, client_id)
   );
   CREATE TABLE IF NOT EXISTS relay_indexes (
     idx INTEGER PRIMARY KEY,
     owner_key TEXT NOT NULL,
     partner_key TEXT NOT NULL,
     seen_at INTEGER NOT NULL
   );`,
  `CREATE TABLE IF NOT EXISTS relay_addresses (
     public_key TEXT PRIMARY KEY,
     address TEXT NOT NULL
   );
   CREATE TABLE IF NOT EXISTS agent_endpoints (
     public_key TEXT PRIMARY KEY,
     public_address TEXT NOT NULL,
     local_addresses TEXT NOT NULL,
     seen_at INTEGER NOT NULL
   );`,
];

const ORG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Checks an org name; @throws {DomainError} invalid */
export function checkOrg(org: string): string {
  if (!ORG_PATTERN.test(org)) {
    throw new DomainError(
      "invalid",
      `invalid org ${JSON.stringify(org)}: 1 to 64 letters, digits, '_', '.' or '-'`,
    );
  }
  return org;
}

function newResourceId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  return "res-" + Array.from(randomBytes(10), (b) => alphabet[b & 31]).join("");
}

/**
 * Resources, org membership, site numbers and relay indexes in the hub database.
 *
 * @example
 * ```ts
 * const resources = ResourceStore.open("/var/lib/burrow-hub");
 * resources.add({ site: siteId, destination: "10.0.0.9", alias: "web.internal" });
 * ```
 */
export class ResourceStore {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Opens DIR/hub.db (which HubStore.open created) and brings this part's tables up to date. */
  static open(stateDir: string): ResourceStore {
    // The clients' tables (and the file itself) come first: these tables refer to them.
    HubStore.open(stateDir).close();
    const db = new DatabaseSync(`${stateDir}/hub.db`);
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA foreign_keys = ON");
    const store = new ResourceStore(db);
    store.#migrate();
    return store;
  }

  close(): void {
    this.#db.close();
  }

  #migrate(): void {
    this.#transaction(() => {
      const row = this.#db.prepare("SELECT value FROM settings WHERE key = ?").get(SCHEMA_KEY) as
        | { value: string }
        | undefined;
      const current = row ? Number(row.value) : 0;
      if (current > MIGRATIONS.length) {
        throw new Error(
          `Cannot open the hub's resources: schema version ${current} is newer than this burrow`,
        );
      }
      for (let version = current; version < MIGRATIONS.length; version++) {
        this.#db.exec(MIGRATIONS[version]);
      }
      if (current !== MIGRATIONS.length) {
        this.#db.prepare(
          "INSERT INTO settings (key, value) VALUES (?, ?) " +
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        ).run(SCHEMA_KEY, String(MIGRATIONS.length));
      }
    });
  }

  #transaction<T>(fn: () => T): T {
    return immediateTransaction(this.#db, fn);
  }

  #clientExists(id: string): boolean {
    return this.#db.prepare("SELECT 1 FROM clients WHERE id = ?").get(id) !== undefined;
  }

  // ---- orgs

  /**
   * Makes `orgs` the client's orgs (none: it belongs to `default`).
   *
   * @throws {DomainError} invalid org names, not_found for an unknown client
   */
  setOrgs(clientId: string, orgs: readonly string[]): void {
    for (const org of orgs) checkOrg(org);
    this.#transaction(() => {
      if (!this.#clientExists(clientId)) {
        throw new DomainError("not_found", `no client ${JSON.stringify(clientId)}`);
      }
      this.#db.prepare("DELETE FROM org_members WHERE client_id = ?").run(clientId);
      const insert = this.#db.prepare("INSERT INTO org_members (client_id, org) VALUES (?, ?)");
      for (const org of new Set(orgs)) insert.run(clientId, org);
    });
  }

  /** The client's orgs, sorted; `["default"]` when none was given. */
  orgsOf(clientId: string): string[] {
    const rows = this.#db.prepare(
      "SELECT org FROM org_members WHERE client_id = ? ORDER BY org",
    ).all(clientId) as { org: string }[];
    return rows.length ? rows.map((r) => r.org) : [DEFAULT_ORG];
  }

  // ---- site numbers

  /** The stable Olm `siteId` of the agent `clientId` as a site (the hub itself is 1). */
  siteNumber(clientId: string): number {
    const find = () =>
      this.#db.prepare("SELECT number FROM site_numbers WHERE client_id = ?").get(clientId) as
        | { number: number }
        | undefined;
    const existing = find();
    if (existing) return existing.number + 1;
    this.#db.prepare("INSERT OR IGNORE INTO site_numbers (client_id) VALUES (?)").run(clientId);
    return find()!.number + 1;
  }

  // ---- resources

  /**
   * Validates and stores a resource; all or nothing.
   *
   * @throws {DomainError} invalid (bad destination, alias, org, access list) or not_found
   *   (unknown site or access client) or conflict (alias already used in the org)
   */
  add(input: NewResource): Resource {
    const org = checkOrg(input.org ?? DEFAULT_ORG);
    const destination = normalizeDestination(input.destination);
    let alias: string | null = null;
    if (input.alias !== undefined) {
      if (!isAliasName(input.alias)) {
        throw new DomainError(
          "invalid",
          `invalid alias ${JSON.stringify(input.alias)}: a hostname expected`,
        );
      }
      const cidr = parseCidr(destination)!;
      if (cidr.bits !== cidr.bytes.length * 8) {
        throw new DomainError(
          "invalid",
          `alias ${input.alias} needs a single-address destination, received ${destination}`,
        );
      }
      alias = input.alias.toLowerCase().replace(/\.$/, "");
    }
    const access = input.access ?? "all";
    if (access !== "all" && access.length === 0) {
      throw new DomainError("invalid", "--access needs at least one client id, or all");
    }
    return this.#transaction(() => {
      if (!this.#clientExists(input.site)) {
        throw new DomainError(
          "not_found",
          `no client ${JSON.stringify(input.site)} to be the site`,
        );
      }
      if (access !== "all") {
        for (const id of access) {
          if (!this.#clientExists(id)) {
            throw new DomainError("not_found", `no client ${JSON.stringify(id)} in --access`);
          }
        }
      }
      if (alias) {
        const taken = this.#db.prepare("SELECT id FROM resources WHERE org = ? AND alias = ?")
          .get(org, alias) as { id: string } | undefined;
        if (taken) {
          throw new DomainError(
            "conflict",
            `alias ${alias} is already used in org ${org} by ${taken.id}`,
          );
        }
      }
      const resource: Resource = {
        id: newResourceId(),
        org,
        site: input.site,
        destination,
        alias,
        access: access === "all" ? "all" : [...new Set(access)],
        createdAt: Date.now(),
      };
      this.#db.prepare(
        "INSERT INTO resources (id, org, site_client_id, destination, alias, access_all, created_at) " +
          "VALUES (?, ?, ?, ?, ?, ?, ?)",
      ).run(
        resource.id,
        org,
        resource.site,
        destination,
        alias,
        access === "all" ? 1 : 0,
        resource.createdAt,
      );
      if (resource.access !== "all") {
        const insert = this.#db.prepare(
          "INSERT INTO resource_access (resource_id, client_id) VALUES (?, ?)",
        );
        for (const id of resource.access) insert.run(resource.id, id);
      }
      return resource;
    });
  }

  /** Deletes a resource; false when there is none with that id. */
  remove(id: string): boolean {
    return this.#db.prepare("DELETE FROM resources WHERE id = ?").run(id).changes > 0;
  }

  list(): Resource[] {
    const rows = this.#db.prepare(
      "SELECT id, org, site_client_id, destination, alias, access_all, created_at " +
        "FROM resources ORDER BY created_at, id",
    ).all() as unknown as ResourceRow[];
    const access = new Map<string, string[]>();
    for (
      const row of this.#db.prepare(
        "SELECT resource_id, client_id FROM resource_access ORDER BY client_id",
      ).all() as { resource_id: string; client_id: string }[]
    ) {
      const list = access.get(row.resource_id) ?? [];
      list.push(row.client_id);
      access.set(row.resource_id, list);
    }
    return rows.map((row) => ({
      id: row.id,
      org: row.org,
      site: row.site_client_id,
      destination: row.destination,
      alias: row.alias,
      access: row.access_all ? "all" : access.get(row.id) ?? [],
      createdAt: row.created_at,
    }));
  }

  // ---- relay indexes

  saveRelayIndex(entry: StoredRelayIndex): void {
    this.#db.prepare(
      "INSERT INTO relay_indexes (idx, owner_key, partner_key, seen_at) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT(idx) DO UPDATE SET owner_key = excluded.owner_key, " +
        "partner_key = excluded.partner_key, seen_at = excluded.seen_at",
    ).run(entry.index, entry.owner, entry.partner, entry.seenAt);
  }

  relayIndexes(): StoredRelayIndex[] {
    return (this.#db.prepare("SELECT idx, owner_key, partner_key, seen_at FROM relay_indexes")
      .all() as { idx: number; owner_key: string; partner_key: string; seen_at: number }[])
      .map((r) => ({
        index: r.idx,
        owner: r.owner_key,
        partner: r.partner_key,
        seenAt: r.seen_at,
      }));
  }

  // ---- agents' addresses as the relay last knew them (a restarted hub relays at once)

  saveRelayAddresses(addresses: ReadonlyMap<string, string>): void {
    this.#transaction(() => {
      this.#db.exec("DELETE FROM relay_addresses");
      const insert = this.#db.prepare(
        "INSERT INTO relay_addresses (public_key, address) VALUES (?, ?)",
      );
      for (const [key, address] of addresses) insert.run(key, address);
    });
  }

  relayAddresses(): Map<string, string> {
    return new Map(
      (this.#db.prepare("SELECT public_key, address FROM relay_addresses").all() as {
        public_key: string;
        address: string;
      }[]).map((r) => [r.public_key, r.address]),
    );
  }

  // ---- agents' endpoints (direct paths)

  saveEndpoint(entry: StoredEndpoint): void {
    this.#db.prepare(
      "INSERT INTO agent_endpoints (public_key, public_address, local_addresses, seen_at) " +
        "VALUES (?, ?, ?, ?) ON CONFLICT(public_key) DO UPDATE SET " +
        "public_address = excluded.public_address, local_addresses = excluded.local_addresses, " +
        "seen_at = excluded.seen_at",
    ).run(entry.publicKey, entry.public, JSON.stringify(entry.local), entry.seenAt);
  }

  endpoints(): StoredEndpoint[] {
    return (this.#db.prepare(
      "SELECT public_key, public_address, local_addresses, seen_at FROM agent_endpoints",
    ).all() as {
      public_key: string;
      public_address: string;
      local_addresses: string;
      seen_at: number;
    }[]).map((r) => ({
      publicKey: r.public_key,
      public: r.public_address,
      local: JSON.parse(r.local_addresses),
      seenAt: r.seen_at,
    }));
  }

  forgetRelayIndexesBefore(cutoffMs: number): void {
    this.#db.prepare("DELETE FROM relay_indexes WHERE seen_at < ?").run(cutoffMs);
  }
}

interface ResourceRow {
  id: string;
  org: string;
  site_client_id: string;
  destination: string;
  alias: string | null;
  access_all: number;
  created_at: number;
}

/**
 * `IP` or `CIDR` as a canonical CIDR (host bits cleared).
 *
 * @throws {DomainError} invalid
 */
export function normalizeDestination(text: string): string {
  const cidr = parseCidr(text);
  if (!cidr) {
    throw new DomainError(
      "invalid",
      `invalid destination ${JSON.stringify(text)}: IP or CIDR expected`,
    );
  }
  return formatCidr(cidr);
}
