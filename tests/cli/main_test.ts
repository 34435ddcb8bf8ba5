// The command line as a user meets it: the real launcher, exit codes and output.
import { assertEquals, assertMatch, assertStringIncludes } from "../_support/assert.ts";
import { VERSION } from "../../src/version.ts";

const BURROW = new URL("../../burrow", import.meta.url).pathname;

async function burrow(args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(BURROW, { args, env, stdin: "null" }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("burrow --help names every role", async () => {
  const result = await burrow(["--help"]);
  assertEquals(result.code, 0);
  for (const role of ["agent", "hub", "wg", "version"]) assertStringIncludes(result.stdout, role);
});

Deno.test("burrow version prints the version from deno.json", async () => {
  const result = await burrow(["version"]);
  assertEquals(result.code, 0);
  assertEquals(result.stdout.trim(), `burrow ${VERSION}`);
});

Deno.test("burrow agent --help lists flags with their environment variables", async () => {
  const result = await burrow(["agent", "--help"]);
  assertEquals(result.code, 0);
  for (
    const text of [
      "--endpoint",
      "PANGOLIN_ENDPOINT",
      "--http-addr",
      "HTTP_ADDR",
      "--log-level",
      "LOG_LEVEL",
    ]
  ) {
    assertStringIncludes(result.stdout, text);
  }
});

Deno.test("burrow refuses bad values with one clear line and exit code 2", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["agent", "--http-addr", "nope"], {}, /--http-addr/],
    [["agent", "--api-port", "70000"], {}, /--api-port/],
    [["agent"], { HTTP_ADDR: "nope" }, /HTTP_ADDR/],
    [["hub", "--tunnel-cidr", "100.89.128.0/40"], {}, /--tunnel-cidr/],
    [["agent", "--no-such-flag"], {}, /unknown flag --no-such-flag/],
    [["no-such-role"], {}, /unknown role/],
  ];
  for (const [args, env, pattern] of cases) {
    const result = await burrow(args, env);
    assertEquals(result.code, 2, args.join(" "));
    assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
    assertMatch(result.stderr, pattern);
  }
});
