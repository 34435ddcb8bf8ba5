// A whole agent (src/agent/compose.ts) in this process, over the in-memory device, connected
// to a hub on loopback (usually the FakeHub), with its log lines kept for assertions.

import { newAgent } from "../../src/agent/compose.ts";
import type { Agent } from "../../src/agent/agent.ts";
import { Logger } from "../../src/log/logger.ts";
import type { ConnectionParams } from "../../src/session/state.ts";
import { fakeTunnels } from "./fake_device.ts";

export interface LoopbackAgentOptions {
  stateDir: string;
  /** `--hub-ca`. */
  hubCaFile?: string;
  /** The connection: endpoint, id and secret at least; the rest has test defaults. */
  connect: Pick<ConnectionParams, "endpoint" | "id" | "secret"> & Partial<ConnectionParams>;
}

/** Builds the agent and connects it (as `POST /connect` would); close it after. */
export async function connectLoopbackAgent(
  options: LoopbackAgentOptions,
): Promise<{ agent: Agent; logs: string[] }> {
  const logs: string[] = [];
  const agent = await newAgent({
    stateDir: options.stateDir,
    tunnels: fakeTunnels(),
    log: new Logger({ level: "debug", write: (line) => logs.push(line) }),
    timing: { backoffBaseMs: 50, backoffCapMs: 200, registerRetryMs: 200 },
    ...(options.hubCaFile ? { hubCaFile: options.hubCaFile } : {}),
  });
  try {
    await agent.connect({
      mtu: 1280,
      interfaceName: "olm",
      holepunch: false,
      pingIntervalMs: 3000,
      pingTimeoutMs: 5000,
      ...options.connect,
    });
  } catch (error) {
    await agent.close();
    throw error;
  }
  return { agent, logs };
}
