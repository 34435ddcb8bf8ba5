// The config file (--config FILE / CONFIG_FILE) with flag > environment > file > default, its
// refusals in one line with exit code 2 for both roles, --secret-file, and the agent's default
// API listeners (127.0.0.1:4100 and /var/run/olm.sock) and how each is turned off.
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../_support/assert.ts";
import { parseFlags, UsageError } from "../../src/cli/flags.ts";
import { readConfigFile } from "../../src/cli/config_file.ts";
import { roleFlags } from "../../src/cli/role.ts";
import { agentRole, daemonConfig } from "../../src/cli/agent_role.ts";
import { groupId } from "../../src/cli/unix_group.ts";
import { BURROW } from "../_support/burrow.ts";
import { run } from "../_support/netns.ts";

const files = (content: Record<string, string>) => (path: string) => {
  if (!(path in content)) throw new Deno.errors.NotFound(path);
  return content[path];
};

function agentFlags(args: string[], env: Record<string, string> = {}, fileText?: string) {
  const read = files(fileText === undefined ? {} : { "/etc/burrow/agent.json": fileText });
  return parseFlags(
    roleFlags(agentRole),
    args,
    (n) => env[n],
    (soFar) => readConfigFile(soFar, roleFlags(agentRole), read),
  );
}

Deno.test("config file: flag > environment > file > default", () => {
  const file = JSON.stringify({
    mtu: 1400,
    interface: "fromfile",
    "ping-interval": "2s",
    "disable-holepunch": true,
    "socket-mode": "0600",
  });
  const base = ["--config", "/etc/burrow/agent.json"];
  const fromFile = agentFlags(base, {}, file);
  assertEquals(fromFile.number("mtu"), 1400);
  assertEquals(fromFile.sources.get("mtu"), "file");
  assertEquals(fromFile.number("ping-interval"), 2000);
  assertEquals(fromFile.boolean("disable-holepunch"), true);
  assertEquals(fromFile.number("socket-mode"), 0o600);
  assertEquals(fromFile.number("ping-timeout"), 5000, "absent from the file: the default");
  const fromEnv = agentFlags(base, { MTU: "1350" }, file);
  assertEquals([fromEnv.number("mtu"), fromEnv.sources.get("mtu")], [1350, "env"]);
  const fromFlag = agentFlags([...base, "--mtu", "1300"], { MTU: "1350" }, file);
  assertEquals([fromFlag.number("mtu"), fromFlag.sources.get("mtu")], [1300, "flag"]);
  assertEquals(fromFlag.string("interface"), "fromfile");
  // CONFIG_FILE names the file too.
  const viaEnv = agentFlags([], { CONFIG_FILE: "/etc/burrow/agent.json" }, file);
  assertEquals(viaEnv.number("mtu"), 1400);
});

Deno.test("config file: unknown keys, bad values and bad files are one UsageError", () => {
  const base = ["--config", "/etc/burrow/agent.json"];
  const cases: [string | undefined, string][] = [
    [`{"no-such-flag": 1}`, 'unknown key "no-such-flag"'],
    [`{"mtu": "big"}`, 'invalid value "big" for key "mtu" in /etc/burrow/agent.json'],
    [`{"api-port": 70000}`, 'key "api-port"'],
    [`{"mtu": [1]}`, 'key "mtu" must be a string, number or boolean'],
    [`{"socket-mode": 432}`, 'key "socket-mode" is a file mode: write it as a string'],
    [`{"config": "/other.json"}`, 'key "config" is not allowed'],
    [`[1]`, "expected one JSON object"],
    [`{mtu: 1}`, "not valid JSON"],
    [undefined, "cannot read config file /etc/burrow/agent.json: no such file"],
  ];
  for (const [text, message] of cases) {
    const error = assertThrows(() => agentFlags(base, {}, text), UsageError, message);
    assert(!error.message.includes("\n"), "one line");
  }
});

Deno.test("agent API listeners: both spec defaults, each one off on its own, or all off", () => {
  const api = (args: string[], env: Record<string, string> = {}) =>
    daemonConfig(agentFlags(["--state-dir", "/tmp/x", ...args], env)).api;
  const defaults = api([]);
  assertEquals(defaults.tcp, { hostname: "127.0.0.1", port: 4100 });
  assertEquals(defaults.socketPath, "/var/run/olm.sock");
  assertEquals(defaults.socketMode, 0o660);
  assertEquals(api(["--api-port", "4200"]).tcp, { hostname: "127.0.0.1", port: 4200 });
  assertEquals(api(["--api-port", "0"]).tcp, undefined);
  assertEquals(api(["--api-port", "0"]).socketPath, "/var/run/olm.sock");
  assertEquals(api(["--socket-path="]).socketPath, undefined);
  assertEquals(api(["--socket-path="]).tcp?.port, 4100);
  assertEquals(api([], { API_PORT: "0" }).tcp, undefined);
  assertEquals(api(["--http-addr", ":9000"]).tcp, { hostname: "127.0.0.1", port: 9000 });
  const off = api(["--enable-api=false"]);
  assertEquals([off.tcp, off.socketPath], [undefined, undefined]);
  assertThrows(() => api(["--http-addr", ":9000", "--api-port", "1"]), UsageError, "not both");
  assertThrows(() => api(["--socket-path=", "--socket-group", "0"]), UsageError, "needs a socket");
  assertEquals(api(["--socket-group", "0"]).socketGroup, 0);
});

Deno.test("groupId() takes numbers and names from /etc/group", () => {
  const table = () => "root:x:0:\nburrow-ops:x:4242:alice,bob\n";
  assertEquals(groupId("7", "--socket-group", table), 7);
  assertEquals(groupId("burrow-ops", "--socket-group", table), 4242);
  assertThrows(() => groupId("nobody-here", "--socket-group", table), UsageError, "no such group");
});

Deno.test("burrow agent and hub refuse a bad config file with one line and exit code 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bops-cfg-" });
  try {
    await Deno.writeTextFile(
      `${dir}/bad-key.json`,
      `{"endpoint": "https://h", "frobnicate": true}`,
    );
    await Deno.writeTextFile(`${dir}/bad-value.json`, `{"tunnel-cidr": "100.89.128.0/40"}`);
    await Deno.writeTextFile(`${dir}/empty-secret`, "\n");
    const cases: [string[], Record<string, string>, string][] = [
      [["agent", "--config", `${dir}/bad-key.json`], {}, 'unknown key "frobnicate"'],
      [["agent"], { CONFIG_FILE: `${dir}/bad-key.json` }, 'unknown key "frobnicate"'],
      [["hub", "--config", `${dir}/bad-value.json`], {}, 'key "tunnel-cidr"'],
      [["hub", "--config", `${dir}/missing.json`], {}, "no such file"],
      [["agent", "--secret-file", `${dir}/empty-secret`], {}, "is empty"],
      [["agent", "--secret-file", `${dir}/nope`], {}, "cannot read --secret-file"],
      [["agent", "--secret", "s", "--secret-file", `${dir}/empty-secret`], {}, "not both"],
    ];
    for (const [args, env, message] of cases) {
      const assignments = Object.entries(env).map(([name, value]) => `${name}=${value}`);
      const result = await run([
        "env",
        ...assignments,
        BURROW,
        ...args,
        "--state-dir",
        `${dir}/state`,
      ], {
        check: false,
      });
      assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
      assertStringIncludes(result.stderr, message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("burrow agent with its API port taken exits 1 with one line, its socket removed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bops-busy-" });
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const result = await run([
      BURROW,
      "agent",
      "--state-dir",
      `${dir}/state`,
      "--socket-path",
      `${dir}/agent.sock`,
      "--api-port",
      String(port),
    ], { check: false });
    assertEquals(result.code, 1, result.stderr);
    const errors = result.stderr.split("\n").filter((line) => line.includes("ERROR"));
    assertEquals(errors.length, 1, result.stderr);
    assertStringIncludes(errors[0], `cannot serve the local API`);
    assertStringIncludes(errors[0], `127.0.0.1:${port}`);
    assert(!result.stderr.includes("    at "), "no stack trace");
    let socketLeft = true;
    try {
      await Deno.lstat(`${dir}/agent.sock`);
    } catch {
      socketLeft = false;
    }
    assert(!socketLeft, "the socket opened first is removed again");
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a config file holding a secret and readable by others is warned about, the secret never printed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bops-cfg-" });
  try {
    const secret = "config-file-secret-never-printed";
    await Deno.writeTextFile(
      `${dir}/agent.json`,
      JSON.stringify({ secret, id: "x", endpoint: "not a url" }),
      { mode: 0o644 },
    );
    await Deno.chmod(`${dir}/agent.json`, 0o644);
    const result = await run([BURROW, "agent", "--config", `${dir}/agent.json`], { check: false });
    // The endpoint is refused (exit 2) after the file was read and checked.
    assertEquals(result.code, 2, result.stderr);
    assertStringIncludes(result.stderr, "others can read it (chmod 600)");
    assert(!result.stderr.includes(secret), "the secret is never printed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
