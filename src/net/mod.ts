// The door of net/: byte and address leaves shared by the agent and the hub (IP parsing, the
// PROXY v2 header, byte streams and relays, which errors mean the peer went away).

export {
  type Cidr,
  cidrContains,
  formatCidr,
  formatIp,
  joinHostPort,
  maskBytes,
  parseCidr,
  parseHostPort,
  parseIp,
} from "./ip.ts";
export { isPeerGone, peerGoneText } from "./peer_gone.ts";
export {
  decodeProxyV2,
  encodeProxyV2,
  encodeProxyV2Local,
  PROXY_V2_MAX_BYTES,
  PROXY_V2_SIGNATURE,
  type ProxyAddress,
  type ProxyDecodeResult,
  type ProxyHeader,
} from "./proxy_v2.ts";
export { BufferPool, copyBuffers, headBuffers } from "./buffer_pool.ts";
export { type Deadline, DeadlineClock } from "./deadlines.ts";
export {
  type ByteReader,
  type ByteStream,
  type ByteWriter,
  closeQuietly,
  concat,
  type OpeningParser,
  readOpening,
  readStreamCapped,
  relay,
  RELAY_BUFFER_BYTES,
  RELAY_BUFFER_SIZES,
  type RelayOptions,
  writeAll,
} from "./stream.ts";
export {
  type BodyFraming,
  encodeLatin1,
  encodeLatin1Into,
  formatRequestHead,
  formatResponseHead,
  headerHasToken,
  type HeaderList,
  headerValue,
  type HostResult,
  HttpWireError,
  indexOfBlankLine,
  isHeaderName,
  latin1,
  MAX_REQUEST_HEAD_BYTES,
  parseRequestHead,
  parseRequestHost,
  parseResponseHead,
  plainResponse,
  requestFraming,
  type RequestHead,
  responseBodyFraming,
  type ResponseHead,
} from "./http1_head.ts";
export {
  CLIENT_HELLO_READ_BYTES,
  MAX_CLIENT_HELLO_BYTES,
  parseClientHello,
  type SniResult,
  TLS_ALERT,
  tlsAlert,
} from "./tls_client_hello.ts";
export { SdNotifier, type ServiceNotify, startServiceNotify } from "./sd_notify.ts";
export { unixSocketAnswers } from "./unix_socket.ts";
export {
  ACCEPT_RETRY_MAX_MS,
  ACCEPT_RETRY_MIN_MS,
  acceptConnections,
  type AcceptOptions,
} from "./accept_loop.ts";
export { startMemoryTrim } from "./memory_trim.ts";
export { reasonPhrase } from "./http_status.ts";
export { systemResolve } from "./system_resolver.ts";
export { bindUdp, type DatagramHandler, type UdpSocket } from "./udp_socket.ts";
