// The agent's side of the hub's port-map service (docs/port-map-protocol.md): opens a TCP
// connection to the hub's tunnel address, sends the request line and reads the answer. What
// follows on the returned connection is the mapped stream (TCP) or framed datagrams (UDP).

import { writeAll } from "../net/mod.ts";
import {
  decodePortMapAnswer,
  encodePortMapRequest,
  PORT_MAP_SERVICE_PORT,
  PortMapRefused,
  type PortMapRequest,
  readPortMapLine,
} from "../protocol/mod.ts";

export interface DialPortMapOptions extends PortMapRequest {
  /** The hub's tunnel address (`serverIP` of the hub's site). */
  hubAddress: string;
  /** @default PORT_MAP_SERVICE_PORT */
  servicePort?: number;
  /** Aborts the dial and the wait for the answer. @default 10 s */
  signal?: AbortSignal;
}

/**
 * Asks the hub to connect this agent to `destination:dstPort` (an empty destination means
 * another tunnel's allocated port on the hub).
 *
 * @returns the connection, positioned after the hub's answer: relay bytes (tcp) or exchange
 *   datagrams with `frameDatagram` / `readDatagrams` (protocol/portmap_frames.ts) (udp)
 * @throws {PortMapRefused} when the hub refuses, with its reason
 * @throws {Deno.errors.ConnectionRefused} and other connect errors when the hub is unreachable
 *
 * @example Map 127.0.0.1:15001 to another tunnel's port 22132
 * ```ts
 * const upstream = await dialPortMap({
 *   hubAddress: "100.89.128.1", destination: "", dstPort: 22132, transport: "tcp",
 * });
 * ```
 */
export async function dialPortMap(options: DialPortMapOptions): Promise<Deno.TcpConn> {
  const signal = options.signal ?? AbortSignal.timeout(10_000);
  const conn = await Deno.connect({
    hostname: options.hubAddress,
    port: options.servicePort ?? PORT_MAP_SERVICE_PORT,
    signal,
  });
  const onAbort = () => conn.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await writeAll(conn, encodePortMapRequest(options));
    const line = await readPortMapLine(conn);
    const answer = line && decodePortMapAnswer(line);
    if (!answer) throw new PortMapRefused("the hub gave no valid answer");
    if (!answer.ok) throw new PortMapRefused(answer.error);
    return conn;
  } catch (error) {
    try {
      conn.close();
    } catch { /* closed by the abort */ }
    if (signal.aborted && !(error instanceof PortMapRefused)) {
      throw new PortMapRefused("the hub did not answer in time");
    }
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
