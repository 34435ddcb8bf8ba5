// The agent's state directory: its WireGuard identity and the last connection parameters
// (secret included: this is the one place the secret is kept). Written atomically, 0600 files
// in a 0700 directory, through src/state/atomic.ts.

import { z } from "../schema/mod.ts";
import { readJsonFile, writeJsonAtomic } from "../state/mod.ts";
import { generatePrivateKey, keyFromBase64, keyToBase64 } from "../curve25519/mod.ts";

export const IDENTITY_FILE = "identity.json";
export const CONNECTION_FILE = "connection.json";

const connectionSchema = z.object({
  endpoint: z.string(),
  id: z.string(),
  secret: z.string(),
  orgId: z.string().optional(),
  userToken: z.string().optional(),
  mtu: z.number().int(),
  interfaceName: z.string(),
  holepunch: z.boolean(),
  pingIntervalMs: z.number(),
  pingTimeoutMs: z.number(),
  dns: z.string().optional(),
  upstreamDns: z.array(z.string()).optional(),
  /** Where the DNS proxy listens; the first host of the hub's utilitySubnet when absent. */
  dnsProxyIP: z.string().optional(),
  /** Point the host's resolver at the DNS proxy while connected (Olm's --override-dns). */
  overrideDns: z.boolean().optional(),
  /** PEM (certificate and key) or PKCS#12 file presented to the hub; a path, never contents. */
  tlsClientCert: z.string().optional(),
});

/** Everything a session needs to log in and bring up its device (as saved in the state). */
export type ConnectionParams = z.infer<typeof connectionSchema>;

const connectionFileSchema = z.object({
  /** Whether the agent should be connected: false after `/disconnect`. */
  active: z.boolean(),
  params: connectionSchema,
});

const identitySchema = z.object({ privateKey: z.string() });

export class StateStore {
  constructor(readonly dir: string) {}

  /**
   * The agent's WireGuard private key, created and saved on first use.
   *
   * @throws {Error} when the identity file exists but is damaged (never silently replaced:
   *   the hub knows the agent by this key)
   */
  async identity(): Promise<Uint8Array> {
    const path = `${this.dir}/${IDENTITY_FILE}`;
    const stored = await readJsonFile(path);
    if (stored !== undefined) {
      const parsed = identitySchema.safeParse(stored);
      const key = parsed.success ? keyFromBase64(parsed.data.privateKey) : null;
      if (!key) throw new Error(`Cannot read the identity: ${path} is damaged`);
      return key;
    }
    const key = generatePrivateKey();
    await writeJsonAtomic(path, { privateKey: keyToBase64(key) });
    return key;
  }

  /** The last connection, or undefined when none was saved or the file is unreadable. */
  async connection(): Promise<{ active: boolean; params: ConnectionParams } | undefined> {
    let stored: unknown;
    try {
      stored = await readJsonFile(`${this.dir}/${CONNECTION_FILE}`);
    } catch {
      return undefined;
    }
    const parsed = connectionFileSchema.safeParse(stored);
    return parsed.success ? parsed.data : undefined;
  }

  async saveConnection(params: ConnectionParams, active: boolean): Promise<void> {
    await writeJsonAtomic(`${this.dir}/${CONNECTION_FILE}`, { active, params });
  }

  /** Marks the saved connection inactive (after `/disconnect`), keeping its parameters. */
  async markInactive(): Promise<void> {
    const saved = await this.connection();
    if (saved?.active) await this.saveConnection(saved.params, false);
  }
}
