// The client's DNS proxy (docs/private-resources.md): a message codec, a resolver that answers
// resource aliases and forwards the rest, and the UDP+TCP server in front of it.

export {
  buildQuery,
  buildResponse,
  CLASS_IN,
  DnsFormatError,
  type DnsMessage,
  parseMessage,
  RCODE,
  TYPE,
} from "./dns_message.ts";
export {
  type AliasEntry,
  AliasTable,
  DEFAULT_UPSTREAM,
  DnsResolver,
  type Exchange,
  parseUpstreams,
  reverseName,
  type Upstream,
} from "./dns_resolver.ts";
export { DnsServer, networkExchange } from "./dns_server.ts";
