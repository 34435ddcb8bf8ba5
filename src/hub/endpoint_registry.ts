// What the hub knows of each agent's endpoints (docs/private-resources.md, "Direct paths"):
// the public address and port its announcements came from (its NAT mapping) and the local
// addresses it listed. Only announcements sealed by the owner of a registered key count, each
// newer than the last one accepted for that key and not far from the hub's clock. Pure.

import { keyToBase64 } from "../curve25519/mod.ts";
import { openAnnouncement } from "../protocol/mod.ts";
import { parseHostPort, parseIp } from "../net/mod.ts";

/** How far an announcement's clock may be from the hub's. */
const MAX_SKEW_MS = 5 * 60_000;
/** An agent silent this long (announcements every 60 s at most) has no known endpoint. */
export const ENDPOINT_TTL_MS = 3 * 60_000;

export interface AgentEndpoint {
  /** `ip:port` the announcement came from: the agent's mapping as the internet sees it. */
  public: string;
  /** The agent's own `ip:port`s (same-LAN peers prefer these). */
  local: string[];
  seenAt: number;
}

export interface EndpointRegistryOptions {
  hubPrivateKey: Uint8Array;
  /** Whether `publicKey` (base64) belongs to a registered agent. */
  isAgent(publicKey: string): boolean;
  now?: () => number;
  /** Endpoints saved before a restart (NAT mappings outlive the hub: keepalives hold them). */
  saved?: readonly (AgentEndpoint & { publicKey: string })[];
  /** Called with every accepted announcement, to save it. */
  save?(entry: AgentEndpoint & { publicKey: string }): void;
}

export class EndpointRegistry {
  readonly #options: EndpointRegistryOptions;
  readonly #now: () => number;
  readonly #endpoints = new Map<string, AgentEndpoint>();
  readonly #lastTimestamp = new Map<string, number>();

  constructor(options: EndpointRegistryOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    for (const entry of options.saved ?? []) {
      const { publicKey, ...endpoint } = entry;
      this.#endpoints.set(publicKey, endpoint);
    }
  }

  /**
   * Takes an announcement received from `from` ("ip:port").
   *
   * @returns the announcing key when accepted, with `changed` when its endpoints differ from
   *   before; null when refused (not an announcement, forged, stale, replayed, unknown key)
   */
  accept(datagram: Uint8Array, from: string): { publicKey: string; changed: boolean } | null {
    const announcement = openAnnouncement(datagram, this.#options.hubPrivateKey);
    if (!announcement) return null;
    const publicKey = keyToBase64(announcement.publicKey);
    if (!this.#options.isAgent(publicKey)) return null;
    const now = this.#now();
    if (Math.abs(now - announcement.timestampMs) > MAX_SKEW_MS) return null;
    if (announcement.timestampMs <= (this.#lastTimestamp.get(publicKey) ?? -Infinity)) return null;
    this.#lastTimestamp.set(publicKey, announcement.timestampMs);
    const local = announcement.local.filter((address) => {
      const split = parseHostPort(address);
      return split !== null && parseIp(split.host) !== null;
    });
    const before = this.get(publicKey);
    this.#endpoints.set(publicKey, { public: from, local, seenAt: now });
    this.#options.save?.({ publicKey, public: from, local, seenAt: now });
    const changed = !before || before.public !== from || before.local.join() !== local.join();
    return { publicKey, changed };
  }

  /** Forgets an agent's endpoints (it registered without hole punching). */
  forget(publicKey: string): void {
    this.#endpoints.delete(publicKey);
  }

  /** The agent's endpoints, or undefined when unknown or too old. */
  get(publicKey: string): AgentEndpoint | undefined {
    const entry = this.#endpoints.get(publicKey);
    if (!entry) return undefined;
    if (this.#now() - entry.seenAt > ENDPOINT_TTL_MS) return undefined;
    return entry;
  }

  /** The key of the agent whose announcements come from `address`, if any. */
  keyAt(address: string): string | null {
    for (const [key, entry] of this.#endpoints) {
      if (entry.public === address && this.#now() - entry.seenAt <= ENDPOINT_TTL_MS) return key;
    }
    return null;
  }

  /** Forgets endpoints past their time; true when any went. */
  sweep(): boolean {
    let gone = false;
    for (const [key, entry] of this.#endpoints) {
      if (this.#now() - entry.seenAt > ENDPOINT_TTL_MS) {
        this.#endpoints.delete(key);
        gone = true;
      }
    }
    return gone;
  }
}

/**
 * Where `from` should send to reach `to` directly: behind the same NAT (one public address),
 * `to`'s local address closest to one of `from`'s (the longest common prefix: the LAN they
 * share, not another network `to` sits on); else `to`'s public mapping; null when `to` has none.
 */
export function directEndpoint(
  from: AgentEndpoint | undefined,
  to: AgentEndpoint | undefined,
): string | null {
  if (!to) return null;
  const hostOf = (address: string) => parseHostPort(address)?.host ?? "";
  if (!from || !to.local.length || hostOf(from.public) !== hostOf(to.public)) return to.public;
  let best = to.local[0], bestBits = -1;
  for (const candidate of to.local) {
    const mine = parseIp(hostOf(candidate));
    if (!mine) continue;
    for (const own of from.local) {
      const theirs = parseIp(hostOf(own));
      if (!theirs || theirs.length !== mine.length) continue;
      const bits = commonPrefixBits(mine, theirs);
      if (bits > bestBits) [best, bestBits] = [candidate, bits];
    }
  }
  return best;
}

function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ^ b[i];
    if (x === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(x) - 24;
  }
  return bits;
}
