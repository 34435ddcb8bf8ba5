// Issue #13 item 14: every value of `burrow agent` is checked at start: exit code 2 and one
// line, before an interface, a socket or a session exists.
import { assertEquals, assertMatch, assertThrows } from "../_support/assert.ts";
import { UsageError } from "../../src/cli/flags.ts";
import { parseFlags } from "../../src/cli/flags.ts";
import { agentRole, daemonConfig } from "../../src/cli/agent_role.ts";
import { roleFlags } from "../../src/cli/role.ts";

const BURROW = new URL("../../burrow", import.meta.url).pathname;

function config(args: string[], env: Record<string, string> = {}) {
  return daemonConfig(parseFlags(roleFlags(agentRole), args, (name) => env[name]));
}

const BAD: [string[], Record<string, string>, RegExp][] = [
  [["--mtu", "99999"], {}, /--mtu: expected 576 to 65535/],
  [["--mtu", "100"], {}, /--mtu/],
  [[], { MTU: "70000" }, /--mtu/],
  [["--interface", "bad/name"], {}, /--interface/],
  [["--interface", "much-too-long-name"], {}, /--interface/],
  [["junk"], {}, /unexpected argument "junk"/],
  [["--endpoint", "hub.example.com"], {}, /--endpoint: expected an http or https URL/],
  [["--endpoint", "ftp://hub"], {}, /--endpoint/],
  [["--ping-interval", "0s"], {}, /--ping-interval/],
  [["--dns", "not-an-ip"], {}, /--dns/],
  [["--upstream-dns", "8.8.8.8:53,nope"], {}, /--upstream-dns/],
  [["--acme-ca-file", "/no/such/ca.pem"], {}, /--acme-ca-file: no such file/],
];

Deno.test("daemonConfig refuses each bad value with a UsageError naming it", () => {
  for (const [args, env, pattern] of BAD) {
    const error = assertThrows(() => config(args, env), UsageError);
    assertMatch(error.message, pattern, args.join(" "));
  }
  const good = config([
    "--mtu",
    "1420",
    "--interface",
    "wg-edge.0",
    "--endpoint",
    "https://hub.example.com",
    "--dns",
    "10.0.0.53",
    "--upstream-dns",
    "8.8.8.8:53, 1.1.1.1",
  ]);
  assertEquals([good.defaults.mtu, good.defaults.interfaceName], [1420, "wg-edge.0"]);
});

Deno.test("burrow agent exits 2 with one line for a bad MTU, interface or argument", async () => {
  for (const args of [["--mtu", "99999"], ["--interface", "bad/name"], ["junk"]]) {
    const output = await new Deno.Command(BURROW, {
      args: ["agent", "--state-dir", "/nonexistent/never-created", ...args],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const stderr = new TextDecoder().decode(output.stderr).trim();
    assertEquals(output.code, 2, `${args.join(" ")}: ${stderr}`);
    assertEquals(stderr.split("\n").length, 1, stderr);
  }
});
