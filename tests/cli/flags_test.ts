import { assertEquals, assertThrows } from "../_support/assert.ts";
import {
  convertFlagValue,
  type FlagSpec,
  formatUsage,
  parseFlags,
  UsageError,
} from "../../src/cli/flags.ts";

const SPECS: FlagSpec[] = [
  { name: "endpoint", type: "string", env: "PANGOLIN_ENDPOINT", description: "hub URL" },
  { name: "mtu", type: "int", env: "MTU", default: "1280", description: "MTU" },
  { name: "http-addr", type: "hostport", env: "HTTP_ADDR", description: "API address" },
  { name: "api-port", type: "port", description: "API port" },
  { name: "tunnel-cidr", type: "cidr", default: "100.89.128.0/20", description: "tunnel" },
  { name: "ping-interval", type: "duration", default: "3s", description: "interval" },
  { name: "socket-mode", type: "mode", default: "0660", description: "mode" },
  { name: "port-range", type: "portrange", default: "22000-22999", description: "ports" },
  { name: "foreground", short: "f", type: "boolean", env: "FG", description: "stay" },
];

const noEnv = () => undefined;
const envOf = (values: Record<string, string>) => (name: string) => values[name];

Deno.test("parseFlags() gives defaults when neither flag nor environment is set", () => {
  const flags = parseFlags(SPECS, [], noEnv);
  assertEquals(flags.number("mtu"), 1280);
  assertEquals(flags.number("ping-interval"), 3000);
  assertEquals(flags.number("socket-mode"), 0o660);
  assertEquals(flags.range("port-range"), { first: 22000, last: 22999 });
  assertEquals(flags.string("endpoint"), undefined);
  assertEquals(flags.boolean("foreground"), false);
  assertEquals(flags.sources.get("mtu"), "default");
});

Deno.test("parseFlags() takes the environment over the default and the flag over both", () => {
  const env = envOf({ MTU: "1400", PANGOLIN_ENDPOINT: "https://env.example" });
  const fromEnv = parseFlags(SPECS, [], env);
  assertEquals(fromEnv.number("mtu"), 1400);
  assertEquals(fromEnv.sources.get("mtu"), "env");
  const fromFlag = parseFlags(SPECS, ["--mtu", "1500", "--endpoint=https://flag.example"], env);
  assertEquals(fromFlag.number("mtu"), 1500);
  assertEquals(fromFlag.string("endpoint"), "https://flag.example");
  assertEquals(fromFlag.sources.get("endpoint"), "flag");
});

Deno.test("parseFlags() accepts Olm's single-dash long flags, short aliases and positionals", () => {
  const flags = parseFlags(SPECS, ["-endpoint", "https://a", "-f", "wg0", "--", "--mtu"], noEnv);
  assertEquals(flags.string("endpoint"), "https://a");
  assertEquals(flags.boolean("foreground"), true);
  assertEquals(flags.positionals, ["wg0", "--mtu"]);
});

Deno.test("parseFlags() reads booleans as bare flags, =false and from the environment", () => {
  assertEquals(parseFlags(SPECS, ["--foreground=false"], noEnv).boolean("foreground"), false);
  assertEquals(parseFlags(SPECS, [], envOf({ FG: "true" })).boolean("foreground"), true);
  assertThrows(() => parseFlags(SPECS, [], envOf({ FG: "maybe" })), UsageError, "FG");
});

Deno.test("parseFlags() refuses unknown flags and missing values in one line", () => {
  assertThrows(() => parseFlags(SPECS, ["--bogus"], noEnv), UsageError, "unknown flag --bogus");
  assertThrows(() => parseFlags(SPECS, ["--mtu"], noEnv), UsageError, "needs a value");
});

Deno.test("parseFlags() refuses bad values naming the flag and what it expected", () => {
  const cases: [string[], string][] = [
    [["--api-port", "70000"], "--api-port: expected a port"],
    [["--http-addr", "nope"], "--http-addr: expected HOST:PORT"],
    [["--http-addr", "127.0.0.1:99999"], "--http-addr"],
    [["--tunnel-cidr", "10.0.0.0/33"], "--tunnel-cidr: expected a CIDR"],
    [["--tunnel-cidr", "10.0.0.1"], "--tunnel-cidr"],
    [["--mtu", "-5"], "--mtu: expected a whole number"],
    [["--ping-interval", "3"], "--ping-interval: expected a duration"],
    [["--socket-mode", "0999"], "--socket-mode: expected an octal"],
    [["--port-range", "3000-2000"], "--port-range"],
  ];
  for (const [args, message] of cases) {
    const error = assertThrows(() => parseFlags(SPECS, args, noEnv), UsageError);
    assertEquals(error.message.includes(message), true, `${args.join(" ")}: ${error.message}`);
    assertEquals(error.message.includes("\n"), false);
  }
});

Deno.test("convertFlagValue() accepts IPv6 host:port and every duration unit", () => {
  const addr = SPECS.find((s) => s.name === "http-addr")!;
  assertEquals(convertFlagValue(addr, "[::1]:4100", "--http-addr"), "[::1]:4100");
  const interval = SPECS.find((s) => s.name === "ping-interval")!;
  assertEquals(convertFlagValue(interval, "250ms", "x"), 250);
  assertEquals(convertFlagValue(interval, "1.5s", "x"), 1500);
  assertEquals(convertFlagValue(interval, "2m", "x"), 120_000);
});

Deno.test("formatUsage() lists every flag with its environment variable and default", () => {
  const text = formatUsage("burrow test", "A test.", SPECS);
  for (const spec of SPECS) assertEquals(text.includes(`--${spec.name}`), true, spec.name);
  assertEquals(text.includes("env PANGOLIN_ENDPOINT"), true);
  assertEquals(text.includes("default 1280"), true);
  assertEquals(text.includes("-f, --foreground"), true);
});
