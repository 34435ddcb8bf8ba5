// One relay of the hub ingress path over loopback, for the benchmark's "relays alone" figure:
// "hub" accepts on PORT, dials 127.0.0.1:TARGET, writes a PROXY v2 header and relays (as the
// hub's ingress does); "agent" reads that header and relays to 127.0.0.1:TARGET (as an agent's
// TCP forward does). Two of them chained measure the two JS relays without any tunnel.
//
//   deno run -A _relay_chain.ts hub|agent PORT TARGET

import { encodeProxyV2 } from "../../src/net/proxy_v2.ts";
import { relay } from "../../src/net/stream.ts";
import { startForwarder } from "./_agent_servers.ts";

const [role, port, target] = Deno.args;
if (role === "agent") {
  startForwarder("127.0.0.1", Number(port), Number(target));
} else {
  for await (const conn of Deno.listen({ hostname: "127.0.0.1", port: Number(port) })) {
    (async () => {
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: Number(target) });
      conn.setNoDelay(true);
      upstream.setNoDelay(true);
      const header = encodeProxyV2(
        { address: conn.remoteAddr.hostname, port: conn.remoteAddr.port },
        { address: conn.localAddr.hostname, port: conn.localAddr.port },
      );
      await relay(conn, upstream, { first: header });
    })().catch(() => {});
  }
}
