// `dns` of /connect (and --dns): the DNS server that resolves the names of peers' endpoints
// (sites and the hub's relay) instead of the system resolver, as Olm uses it. A question over
// UDP for A, then AAAA; the first address wins.

import { buildQuery, networkExchange, parseMessage, RCODE, TYPE } from "../dns/mod.ts";
import { formatIp } from "../net/mod.ts";
import { parseUpstreams, type Upstream } from "../protocol/mod.ts";

const TIMEOUT_MS = 2000;

/**
 * A resolver asking `server` (`IP` or `IP:port`).
 *
 * @throws {TypeError} when `server` is not an address
 */
export function resolverVia(server: string): (host: string) => Promise<string | null> {
  const parsed = parseUpstreams([server]);
  if (!Array.isArray(parsed) || !parsed.length) {
    throw new TypeError(`Cannot use DNS server ${JSON.stringify(server)}: IP or IP:port expected`);
  }
  const upstream: Upstream = parsed[0];
  return async (host) => {
    for (const type of [TYPE.A, TYPE.AAAA]) {
      const id = crypto.getRandomValues(new Uint16Array(1))[0];
      try {
        const answer = parseMessage(
          await networkExchange(upstream, buildQuery(id, host, type), "udp", TIMEOUT_MS),
        );
        if ((answer.flags & 0xf) !== RCODE.NOERROR) continue;
        const record = answer.answers.find((r) => r.type === type);
        if (record) return formatIp(record.data);
      } catch {
        // Timeout or garbage: try the other family, then give up.
      }
    }
    return null;
  };
}
