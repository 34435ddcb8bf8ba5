import { assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { Logger } from "../../src/log/logger.ts";

function capture(options: ConstructorParameters<typeof Logger>[0] = {}) {
  const lines: string[] = [];
  const logger = new Logger({
    now: () => new Date("2026-01-02T03:04:05.000Z"),
    write: (line) => lines.push(line),
    ...options,
  });
  return { logger, lines };
}

Deno.test("Logger prints human lines with level, message and fields", () => {
  const { logger, lines } = capture();
  logger.info("listening", { addr: "127.0.0.1:4100", spaced: "a b" });
  assertEquals(lines, [
    '2026-01-02T03:04:05.000Z INFO  listening addr=127.0.0.1:4100 spaced="a b"',
  ]);
});

Deno.test("Logger drops lines below its level", () => {
  const { logger, lines } = capture({ level: "warn" });
  logger.debug("d");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
  assertEquals(lines.length, 2);
  assertStringIncludes(lines[0], "WARN");
  assertStringIncludes(lines[1], "ERROR");
});

Deno.test("Logger writes one JSON object a line in json format", () => {
  const { logger, lines } = capture({ format: "json" });
  logger.with({ role: "agent" }).warn("reconnecting", { attempt: 3 });
  assertEquals(JSON.parse(lines[0]), {
    time: "2026-01-02T03:04:05.000Z",
    level: "warn",
    msg: "reconnecting",
    role: "agent",
    attempt: 3,
  });
});

Deno.test("Logger redacts fields named like secrets, also nested", () => {
  const { logger, lines } = capture({ format: "json" });
  logger.info("login", {
    secret: "hunter22",
    apiToken: "t0k3n",
    body: { privateKey: "abcd", id: "x" },
  });
  const line = JSON.parse(lines[0]);
  assertEquals(line.secret, "[redacted]");
  assertEquals(line.apiToken, "[redacted]");
  assertEquals(line.body, { privateKey: "[redacted]", id: "x" });
});

Deno.test("Logger scrubs registered secret values from messages, fields and children", () => {
  const { logger, lines } = capture();
  logger.addSecret("s3cr3t-value");
  const child = logger.with({ part: "session" });
  child.error("login failed for s3cr3t-value", {
    detail: "bad s3cr3t-value",
    error: new Error("x s3cr3t-value"),
  });
  assertEquals(lines[0].includes("s3cr3t-value"), false);
  assertStringIncludes(lines[0], "[redacted]");
});
