// systemd support: the unit files in packaging/systemd pass `systemd-analyze verify`, and
// `burrow agent` tells a NOTIFY_SOCKET the test binds READY=1 once its API listens, STATUS=
// as its session changes, WATCHDOG=1 every WATCHDOG_USEC/2, and STOPPING=1 on SIGTERM.
// (The hub's side is in ./live_netns_test.ts, where it has a TUN device.)
import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { REPO_ROOT, startAgent, unixSocketApi } from "../_support/burrow.ts";
import { run, stopProcess } from "../_support/netns.ts";
import { FakeHub } from "../_support/fake_hub.ts";
import { NotifyListener } from "./_notify.ts";

const UNITS = ["burrow-agent.service", "burrow-hub.service"];

// systemd-analyze comes with Debian's systemd package; tools/apt-ensure.sh installs it when
// missing and when this runs as root.
async function systemdAnalyze(): Promise<string | null> {
  await run([`${REPO_ROOT}tools/apt-ensure.sh`, "systemd-analyze:systemd"], { check: false });
  const found = await run(["sh", "-c", "command -v systemd-analyze"], { check: false });
  return found.code === 0 ? found.stdout.trim() : null;
}

Deno.test("packaging/systemd units pass systemd-analyze verify with Type=notify and hardening", async () => {
  for (const unit of UNITS) {
    const text = await Deno.readTextFile(`${REPO_ROOT}packaging/systemd/${unit}`);
    for (
      const line of [
        "Type=notify",
        "WatchdogSec=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE",
        "DeviceAllow=/dev/net/tun rw",
        "StateDirectory=burrow",
      ]
    ) {
      assertStringIncludes(text, `\n${line}`, `${unit}: ${line}`);
    }
  }
  const analyze = await systemdAnalyze();
  if (!analyze) {
    console.log("skipping systemd-analyze verify: systemd-analyze is not installed (needs root)");
    return;
  }
  // verify checks that ExecStart's program exists: the copies point at this checkout's
  // launcher instead of /opt/burrow/burrow and are otherwise the same bytes.
  const dir = await Deno.makeTempDir({ prefix: "bops-unit-" });
  try {
    const paths = [];
    for (const unit of UNITS) {
      const text = await Deno.readTextFile(`${REPO_ROOT}packaging/systemd/${unit}`);
      assertStringIncludes(text, "ExecStart=/opt/burrow/burrow ");
      await Deno.writeTextFile(
        `${dir}/${unit}`,
        text.replaceAll("/opt/burrow/burrow", `${REPO_ROOT}burrow`),
      );
      paths.push(`${dir}/${unit}`);
    }
    const result = await run([analyze, "verify", ...paths], { check: false });
    const output = `${result.stdout}${result.stderr}`.trim();
    if (
      result.code !== 0 &&
      /Failed to (connect|initialize)|not been booted|No such file or directory.*\/run\/systemd/i
        .test(output)
    ) {
      console.log(`skipping systemd-analyze verify: it cannot run here: ${output}`);
      return;
    }
    assertEquals(output, "", "systemd-analyze verify prints nothing for a clean unit");
    assertEquals(result.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("burrow agent notifies READY=1, STATUS= changes, WATCHDOG=1 and STOPPING=1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bops-sd-" });
  const socket = `${dir}/agent.sock`;
  const notify = new NotifyListener(`${dir}/notify.sock`);
  const hub = await FakeHub.start({ clients: { "agent-1": "the right one" } });
  const child = startAgent(null, {
    stateDir: `${dir}/state`,
    socket,
    env: notify.env(400_000),
  });
  try {
    const ready = await notify.next("READY=1", (m) => m.READY === "1");
    assertEquals(ready.STATUS, "waiting for POST /connect");
    // READY=1 comes once the API listens.
    assertEquals((await unixSocketApi(socket)("GET", "/health")).status, 200);
    await notify.next("two watchdog pings", () => notify.values("WATCHDOG").length >= 2);
    const connect = await unixSocketApi(socket)("POST", "/connect", {
      id: "agent-1",
      secret: "wrong",
      endpoint: hub.endpoint,
    });
    assertEquals(connect.status, 202);
    const stopped = await notify.next("the refusal", (m) => m.STATUS?.startsWith("stopped by"));
    assertStringIncludes(stopped.STATUS, "stopped by the hub: ");
    assert(!stopped.STATUS.includes("wrong"), "no secret in the status line");
    child.kill("SIGTERM");
    assertEquals((await child.status).code, 0);
    await notify.next("STOPPING=1", (m) => m.STOPPING === "1");
    assertEquals(notify.values("READY"), ["1"], "READY=1 exactly once");
  } finally {
    await stopProcess(child);
    await hub.stop();
    await notify.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("burrow agent without WATCHDOG_USEC never sends WATCHDOG=1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bops-sd-" });
  const socket = `${dir}/agent.sock`;
  const notify = new NotifyListener(`${dir}/notify.sock`);
  // NOTIFY_SOCKET set but no watchdog: READY and STATUS only, never WATCHDOG.
  const child = startAgent(null, { stateDir: `${dir}/state`, socket, env: notify.env() });
  try {
    await notify.next("READY=1", (m) => m.READY === "1");
    assertEquals((await unixSocketApi(socket)("GET", "/health")).status, 200);
    child.kill("SIGTERM");
    await notify.next("STOPPING=1", (m) => m.STOPPING === "1");
    // With a watchdog the first WATCHDOG=1 follows READY=1 at once.
    assertEquals(notify.values("WATCHDOG"), []);
  } finally {
    await stopProcess(child);
    await notify.close();
    await Deno.remove(dir, { recursive: true });
  }
});
