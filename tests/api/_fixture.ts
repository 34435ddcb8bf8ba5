// A running agent API for tests: fake hub, agent with a fake device, listeners on a temp
// Unix socket and a loopback TCP port; curl drives it the way olm-api.txt's examples do.

import { FakeHub } from "../_support/fake_hub.ts";
import { fakeTunnels } from "../_support/fake_device.ts";
import { curlAnswer, type HttpAnswer } from "../_support/curl.ts";
import type { Agent } from "../../src/agent/agent.ts";
import { agentRouter, newAgent } from "../../src/agent/compose.ts";
import { ApiServer, type ApiServerOptions } from "../../src/api/server.ts";
import { Logger } from "../../src/log/logger.ts";

/** The id and secret of olm-api.txt's examples; the fake hub accepts them. */
export const DOC_ID = "31frd0uzbjvp721";
export const DOC_SECRET = "h51mmlknrvrwv8s4r1i210azhumt6isgbpyavxodibx1k2d6";

export interface Fixture {
  hub: FakeHub;
  agent: Agent;
  server: ApiServer;
  tunnels: ReturnType<typeof fakeTunnels>;
  dir: string;
  socketPath: string;
  logLines: string[];
  /** curl over the Unix socket (`via: "unix"`) or TCP, with the example's arguments after the URL path. */
  curl(via: "unix" | "tcp", path: string, args?: string[]): Promise<HttpAnswer>;
}

export async function withApi(
  fn: (f: Fixture) => Promise<void>,
  options: Partial<ApiServerOptions> & { orgs?: string[] } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bag-api-" });
  const hub = await FakeHub.start({ clients: { [DOC_ID]: DOC_SECRET }, orgs: options.orgs });
  const tunnels = fakeTunnels();
  const logLines: string[] = [];
  const log = new Logger({ level: "debug", write: (l) => logLines.push(l) });
  const agent = await newAgent({
    stateDir: `${dir}/state`,
    tunnels,
    log,
    timing: { backoffBaseMs: 50, backoffCapMs: 200, registerRetryMs: 200 },
  });
  const socketPath = `${dir}/run/olm/olm.sock`;
  const server = await ApiServer.start({
    router: agentRouter(agent),
    socketPath,
    tcp: { hostname: "127.0.0.1", port: 0 },
    ...options,
  });
  const curl = async (via: "unix" | "tcp", path: string, args: string[] = []) => {
    const base = via === "unix"
      ? ["--unix-socket", socketPath, `http://localhost${path}`]
      : [`http://127.0.0.1:${server.tcpPort}${path}`];
    return await curlAnswer(null, [...base, ...args]);
  };
  try {
    await fn({ hub, agent, server, tunnels, dir, socketPath, logLines, curl });
  } finally {
    await agent.close();
    await server.stop();
    await hub.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
