// An agent as the API drives it, for tests of its answers: a fake hub (two orgs), the agent
// over a temp state directory with a fake device, its traffic rules and its router (called
// without a socket), connected and registered before the test runs. Also `readOnly`, a state
// directory that refuses writes for real.
import { waitFor } from "../_support/netns.ts";
import { FakeHub } from "../_support/fake_hub.ts";
import { fakeTunnels } from "../_support/fake_device.ts";
import { agentRouter, newAgent } from "../../src/agent/compose.ts";
import type { Agent } from "../../src/agent/agent.ts";
import { apiRequest, type ApiResponse } from "../../src/api/exchange.ts";
import { startAgentRules } from "../../src/rules/mod.ts";
import { Logger } from "../../src/log/logger.ts";
import { assertEquals } from "../_support/assert.ts";

export const ID = "agent-1", SECRET = "half-applied-secret-1";
export const P = "/api/client/v1.0/";

/** Makes `dir` refuse new entries (temporary files, renames) until the returned undo runs. */
export async function readOnly(dir: string): Promise<() => Promise<void>> {
  if (Deno.uid() === 0) {
    const on = await new Deno.Command("chattr", { args: ["+i", dir] }).output();
    if (!on.success) throw new Error(`chattr +i failed: ${new TextDecoder().decode(on.stderr)}`);
    return async () => void await new Deno.Command("chattr", { args: ["-i", dir] }).output();
  }
  await Deno.chmod(dir, 0o500);
  return () => Deno.chmod(dir, 0o700);
}

/**
 * Fills the file system holding `dir` (a small tmpfs from `withAgent({ tinyDisk: true })`)
 * until a write fails with "no space left".
 */
export async function fillDisk(dir: string): Promise<void> {
  const file = await Deno.open(`${dir}/filler`, { write: true, create: true });
  try {
    const block = new Uint8Array(4096);
    for (;;) await file.write(block);
  } catch (error) {
    if (!String(error).includes("No space left")) throw error;
  } finally {
    file.close();
  }
}

/** Whether this process may mount a tmpfs (root): the full-disk tests need one. */
export const CAN_MOUNT = Deno.build.os === "linux" && Deno.uid() === 0;

export async function withAgent(
  fn: (ctx: {
    hub: FakeHub;
    agent: Agent;
    stateDir: string;
    call: (method: string, path: string, body?: unknown) => Promise<ApiResponse>;
  }) => Promise<void>,
  options: { tinyDisk?: boolean } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bag-half-" });
  const stateDir = `${dir}/state`;
  if (options.tinyDisk) {
    await Deno.mkdir(stateDir, { mode: 0o700 });
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=512k,mode=0700", "bag-tiny", stateDir],
    }).output();
    if (!mount.success) throw new Error(new TextDecoder().decode(mount.stderr));
  }
  const hub = await FakeHub.start({ clients: { [ID]: SECRET }, orgs: ["org_a", "org_b"] });
  const agent = await newAgent({
    stateDir,
    tunnels: fakeTunnels(),
    log: new Logger({ level: "error", write: () => {} }),
    timing: { backoffBaseMs: 50, backoffCapMs: 200, registerRetryMs: 200 },
  });
  const rules = await startAgentRules(agent, { directoryUrl: "http://127.0.0.1:9/directory" });
  const router = agentRouter(agent, undefined, rules.engine);
  const call = (method: string, path: string, body?: unknown) =>
    router.handle(apiRequest({
      method,
      target: path,
      body: body === undefined ? undefined : JSON.stringify(body),
    }));
  try {
    const connect = await call("POST", "/connect", {
      id: ID,
      secret: SECRET,
      endpoint: hub.endpoint,
      orgId: "org_a",
    });
    assertEquals(connect.status, 202);
    await waitFor("registration", () => agent.status().registered);
    await fn({ hub, agent, stateDir, call });
  } finally {
    await agent.close();
    await rules.close();
    await hub.stop();
    if (options.tinyDisk) await new Deno.Command("umount", { args: [stateDir] }).output();
    await Deno.remove(dir, { recursive: true });
  }
}
