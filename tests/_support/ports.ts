// Free loopback ports for tests that start servers on fixed port numbers (best effort: another
// process may take a port between the check and its use).

/** A port no TCP (or UDP) socket on 127.0.0.1 holds right now. */
export function freePort(transport: "tcp" | "udp" = "tcp"): number {
  const socket = transport === "udp"
    ? Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}

/** `count` consecutive free TCP ports on loopback. */
export function freePortRange(count: number): { first: number; last: number } {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = 20000 + Math.floor(Math.random() * 40000);
    const listeners: Deno.TcpListener[] = [];
    try {
      for (let port = first; port < first + count; port++) {
        listeners.push(Deno.listen({ hostname: "127.0.0.1", port }));
      }
      return { first, last: first + count - 1 };
    } catch {
      // taken; try elsewhere
    } finally {
      for (const l of listeners) l.close();
    }
  }
  throw new Error("no free port range");
}
