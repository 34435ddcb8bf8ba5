// A real hub and agent in two namespaces the test creates (prefix bops), both started the way
// an operator would: the hub with NOTIFY_SOCKET and a watchdog; the agent from a --config file
// that names a --secret-file, with no API flag (so 127.0.0.1:4100 of its namespace) and a
// --socket-group. Checks: READY/STATUS/WATCHDOG from both, the default TCP listener, the
// socket's group and mode, the secret nowhere in argv or logs, and `burrow hub client list`
// showing online, lastSeen, tunnel address and agent version from the running hub.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_support/assert.ts";
import {
  addHubClient,
  BURROW,
  collectOutput,
  hubEndpoint,
  spawnBurrow,
  startHub,
  waitForAgentStatus,
} from "../_support/burrow.ts";
import { curlAnswer } from "../_support/curl.ts";
import { NetnsGroup, netnsTest, run, stopProcess, uniqueSuffix } from "../_support/netns.ts";
import { VERSION } from "../../src/version.ts";
import { groupId } from "../../src/cli/unix_group.ts";
import { NotifyListener } from "./_notify.ts";

const HUB_IP = "10.79.3.1", AGENT_IP = "10.79.3.2";

interface ListedClient {
  id: string;
  online: boolean;
  lastSeen: number | null;
  tunnelIP: string | null;
  agentVersion: string | null;
}

Deno.test(
  netnsTest(
    "hub and agent under systemd's eyes: notify, config file, defaults, client list",
    async () => {
      const suffix = uniqueSuffix();
      const dir = await Deno.makeTempDir({ prefix: "bops-live-" });
      const namespaces = new NetnsGroup();
      const hubNotify = new NotifyListener(`${dir}/hub-notify.sock`);
      const agentNotify = new NotifyListener(`${dir}/agent-notify.sock`);
      let hub: Deno.ChildProcess | undefined;
      let agent: Deno.ChildProcess | undefined;
      try {
        const hubNs = await namespaces.create("bops-hub");
        const agentNs = await namespaces.createLinked("bops-ag", hubNs, {
          addresses: [`${AGENT_IP}/24`],
          peerAddresses: [`${HUB_IP}/24`],
        });
        const hubState = `${dir}/hub`;
        const cred = await addHubClient(hubState, "live");
        const listClients = async (): Promise<ListedClient[]> =>
          JSON.parse(
            (await run([BURROW, "hub", "client", "list", "--state-dir", hubState])).stdout,
          );
        const before = (await listClients())[0];
        assertEquals([before.online, before.lastSeen, before.agentVersion], [false, null, null]);

        hub = await startHub(hubNs, agentNs, {
          stateDir: hubState,
          publicHost: HUB_IP,
          interface: `bopsh${suffix}`,
          portRange: "22300-22309",
          env: hubNotify.env(600_000),
        });
        const hubReady = await hubNotify.next("hub READY=1", (m) => m.READY === "1");
        assertEquals(hubReady.STATUS, "serving, 0 agents online");
        await hubNotify.next("hub WATCHDOG=1", (m) => m.WATCHDOG === "1");

        // The agent's settings come from a config file; its secret from a file of its own.
        const group = await pickGroup();
        await Deno.writeTextFile(`${dir}/secret`, `${cred.secret}\n`, { mode: 0o600 });
        const socket = `${dir}/agent.sock`;
        await Deno.writeTextFile(
          `${dir}/agent.json`,
          JSON.stringify({
            endpoint: hubEndpoint(HUB_IP),
            id: cred.id,
            "secret-file": `${dir}/secret`,
            "state-dir": `${dir}/agent`,
            interface: `bopsa${suffix}`,
            "socket-path": socket,
            "socket-group": group.name,
            "log-level": "debug",
          }),
        );
        agent = spawnBurrow(agentNs, ["agent", "--config", `${dir}/agent.json`], {
          env: agentNotify.env(600_000),
          stderr: "piped",
        });
        const agentLogs = collectOutput(agent.stderr);
        const agentReady = await agentNotify.next("agent READY=1", (m) => m.READY === "1");
        assertMatch(agentReady.STATUS, /^(waiting|connecting|connected)/);
        assert(
          !(await Deno.readTextFile(`/proc/${agent.pid}/cmdline`)).includes(cred.secret),
          "the secret is not on the command line",
        );

        // Default TCP listener: Packetriot's base URL inside the agent's namespace.
        const info = await curlAnswer(agentNs, ["http://127.0.0.1:4100/api/client/v1.0/info"]);
        assertEquals(info.status, 200);
        assertEquals(info.json<{ status: boolean }>().status, true);
        const socketInfo = await Deno.stat(socket);
        assertEquals(socketInfo.gid, group.gid, "--socket-group");
        assertEquals(socketInfo.mode! & 0o777, 0o660);

        await waitForAgentStatus(socket, "registered", (s) => s.registered === true, 30_000);
        const connected = await agentNotify.next(
          "agent STATUS connected",
          (m) => m.STATUS?.startsWith("connected, tunnel 100.89.") ?? false,
        );
        assertStringIncludes(connected.STATUS, "/20");
        await agentNotify.next("agent WATCHDOG=1", (m) => m.WATCHDOG === "1");
        await hubNotify.next("hub STATUS 1 agent", (m) => m.STATUS === "serving, 1 agent online");

        // The running hub's view, read from its store by another process.
        const online = (await listClients())[0];
        assertEquals(online.online, true);
        assertEquals(online.agentVersion, VERSION);
        assertEquals(online.tunnelIP, "100.89.128.2");
        assert(online.lastSeen !== null && Math.abs(Date.now() - online.lastSeen) < 60_000);

        await stopProcess(agent);
        agent = undefined;
        await hubNotify.next(
          "hub STATUS 0 agents",
          () => hubNotify.values("STATUS").at(-1) === "serving, 0 agents online",
        );
        const offline = (await listClients())[0];
        assertEquals(offline.online, false);
        assert(offline.lastSeen! >= online.lastSeen!);
        assert(!agentLogs.join("").includes(cred.secret), "the secret never reaches a log line");

        await stopProcess(hub);
        hub = undefined;
        await hubNotify.next("hub STOPPING=1", (m) => m.STOPPING === "1");
      } finally {
        if (agent) await stopProcess(agent);
        if (hub) await stopProcess(hub);
        await namespaces.destroy();
        await hubNotify.close();
        await agentNotify.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  ),
);

/** A group other than root's, by name, so --socket-group's name lookup is what is tested. */
async function pickGroup(): Promise<{ name: string; gid: number }> {
  const table = await Deno.readTextFile("/etc/group");
  for (const name of ["nogroup", "daemon", "users"]) {
    if (table.split("\n").some((line) => line.startsWith(`${name}:`))) {
      return { name, gid: groupId(name, "test") };
    }
  }
  throw new Error("no usable group in /etc/group");
}
