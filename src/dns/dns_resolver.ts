// The DNS proxy's brain: answers the aliases of the resources a client may reach,
// authoritatively (A, AAAA, and PTR for their addresses), and forwards every other question to
// the upstream servers in turn, answering SERVFAIL when none of them answers. Transport-free:
// the server (./server.ts) hands it query bytes and sends back what it returns.

import { formatIp, parseIp } from "../net/mod.ts";
import { isAliasName, type Upstream } from "../protocol/mod.ts";

export { parseUpstreams, type Upstream } from "../protocol/mod.ts";
import {
  buildResponse,
  CLASS_IN,
  DnsFormatError,
  type DnsMessage,
  encodeName,
  formatErrorFor,
  isResponse,
  opcodeOf,
  parseMessage,
  RCODE,
  TYPE,
} from "./dns_message.ts";

/** One alias as the hub sends it (`aliases[]` of a site): a hostname, maybe with `*`/`?`. */
export interface AliasEntry {
  alias: string;
  aliasAddress: string;
}

/** Sends raw query bytes to one upstream and resolves its raw answer; rejects on failure. */
export type Exchange = (
  upstream: Upstream,
  query: Uint8Array,
  transport: "udp" | "tcp",
  timeoutMs: number,
) => Promise<Uint8Array>;

/** Seconds a client may cache an alias answer: short, since access can change at any time. */
export const ALIAS_TTL_S = 30;
export const DEFAULT_UPSTREAM: Upstream = { host: "8.8.8.8", port: 53 };
/** Per upstream, as Olm does. */
export const UPSTREAM_TIMEOUT_MS = 2000;

function globToRegExp(glob: string): RegExp {
  const escaped = glob.toLowerCase().replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`);
}

/** The `in-addr.arpa` / `ip6.arpa` name of an address. */
export function reverseName(address: Uint8Array): string {
  if (address.length === 4) return `${[...address].reverse().join(".")}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (const byte of address) nibbles.push((byte >> 4).toString(16), (byte & 15).toString(16));
  return `${nibbles.reverse().join(".")}.ip6.arpa`;
}

interface CompiledAlias {
  name: string;
  pattern: RegExp | null;
  address: Uint8Array;
}

/** The aliases a client may resolve; exact names win over wildcards. */
export class AliasTable {
  readonly #exact = new Map<string, Uint8Array[]>();
  readonly #wild: CompiledAlias[] = [];
  readonly #reverse = new Map<string, string[]>();

  constructor(entries: readonly AliasEntry[] = []) {
    for (const entry of entries) {
      const address = parseIp(entry.aliasAddress);
      if (!address || !isAliasName(entry.alias)) continue;
      const name = entry.alias.toLowerCase().replace(/\.$/, "");
      if (/[*?]/.test(name)) {
        this.#wild.push({ name, pattern: globToRegExp(name), address });
        continue;
      }
      const list = this.#exact.get(name) ?? [];
      if (!list.some((a) => formatIp(a) === formatIp(address))) list.push(address);
      this.#exact.set(name, list);
      const ptr = reverseName(address);
      const names = this.#reverse.get(ptr) ?? [];
      if (!names.includes(name)) names.push(name);
      this.#reverse.set(ptr, names);
    }
  }

  get size(): number {
    return this.#exact.size + this.#wild.length;
  }

  /** The alias's addresses (both families), or null when `name` is no alias. */
  lookup(name: string): Uint8Array[] | null {
    const exact = this.#exact.get(name);
    if (exact) return exact;
    const wild = this.#wild.filter((w) => w.pattern!.test(name)).map((w) => w.address);
    return wild.length ? wild : null;
  }

  /** The alias names of a reverse name, or null when it is not an alias address. */
  reverse(name: string): string[] | null {
    return this.#reverse.get(name) ?? null;
  }
}

export interface ResolverOptions {
  aliases?: AliasTable;
  /** @default [8.8.8.8:53] */
  upstreams?: Upstream[];
  exchange: Exchange;
  /** @default 2000 */
  timeoutMs?: number;
}

export class DnsResolver {
  #aliases: AliasTable;
  #upstreams: Upstream[];
  readonly #exchange: Exchange;
  readonly #timeoutMs: number;

  constructor(options: ResolverOptions) {
    this.#aliases = options.aliases ?? new AliasTable();
    this.#upstreams = options.upstreams?.length ? options.upstreams : [DEFAULT_UPSTREAM];
    this.#exchange = options.exchange;
    this.#timeoutMs = options.timeoutMs ?? UPSTREAM_TIMEOUT_MS;
  }

  /** Replaces the aliases (access changed); questions in flight finish with the old ones. */
  setAliases(aliases: AliasTable): void {
    this.#aliases = aliases;
  }

  get upstreams(): readonly Upstream[] {
    return this.#upstreams;
  }

  /**
   * The answer to one query, or null when nothing should be sent back (a response, or bytes
   * too broken to answer).
   */
  async answer(bytes: Uint8Array, transport: "udp" | "tcp"): Promise<Uint8Array | null> {
    let query: DnsMessage;
    try {
      query = parseMessage(bytes);
    } catch (error) {
      if (error instanceof DnsFormatError) return formatErrorFor(bytes);
      throw error;
    }
    if (isResponse(query.flags)) return null;
    if (opcodeOf(query.flags) !== 0 || query.questions.length !== 1) {
      return buildResponse(query, { rcode: RCODE.NOTIMP, authoritative: false });
    }
    const local = this.#answerLocally(query);
    if (local) return local;
    return await this.#forward(query, bytes, transport);
  }

  /** An authoritative answer when the question is about an alias or an alias address. */
  #answerLocally(query: DnsMessage): Uint8Array | null {
    const question = query.questions[0];
    if (question.class !== CLASS_IN) return null;
    const addresses = this.#aliases.lookup(question.name);
    if (addresses) {
      const family = question.type === TYPE.A ? 4 : question.type === TYPE.AAAA ? 16 : 0;
      const answers = addresses.filter((a) => a.length === family).map((data) => ({
        name: question.name,
        type: question.type,
        class: CLASS_IN,
        ttl: ALIAS_TTL_S,
        data,
      }));
      // Other types, or no address of that family: the name exists, with no such data.
      return buildResponse(query, { rcode: RCODE.NOERROR, authoritative: true, answers });
    }
    if (question.type === TYPE.PTR) {
      const names = this.#aliases.reverse(question.name);
      if (names) {
        const answers = names.map((name) => ({
          name: question.name,
          type: TYPE.PTR,
          class: CLASS_IN,
          ttl: ALIAS_TTL_S,
          data: encodeName(name),
        }));
        return buildResponse(query, { rcode: RCODE.NOERROR, authoritative: true, answers });
      }
    }
    return null;
  }

  async #forward(
    query: DnsMessage,
    bytes: Uint8Array,
    transport: "udp" | "tcp",
  ): Promise<Uint8Array> {
    for (const upstream of this.#upstreams) {
      try {
        const answer = await this.#exchange(upstream, bytes, transport, this.#timeoutMs);
        const parsed = parseMessage(answer);
        if (parsed.id !== query.id || !isResponse(parsed.flags)) continue;
        // A server that fails is no answer: the next one may do better.
        if ((parsed.flags & 0xf) === RCODE.SERVFAIL) continue;
        return answer;
      } catch {
        // Timeout, refused or garbage: try the next upstream.
      }
    }
    return buildResponse(query, { rcode: RCODE.SERVFAIL, authoritative: false });
  }
}
