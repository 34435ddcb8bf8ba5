// A client that hangs up in the middle of a request (node:http's "aborted", ECONNRESET) is the
// normal end of a connection: the API logs it at debug, one line without a stack, never at
// error. Run in a child process so its stderr (where the process-wide logger writes) is seen.

import { assert, assertStringIncludes } from "../_support/assert.ts";
import { DENO } from "../_support/burrow.ts";

const SCRIPT = `
import { ApiServer } from "${import.meta.resolve("../../src/api/server.ts")}";
import { Router } from "${import.meta.resolve("../../src/api/router.ts")}";
import { log } from "${import.meta.resolve("../../src/log/mod.ts")}";
log.level = "debug";
// Resolves once the server logged anything about the request (at whatever level).
let logged: () => void;
const done = new Promise<void>((resolve) => logged = resolve);
for (const level of ["debug", "warn", "error"] as const) {
  const write = log[level].bind(log);
  log[level] = (message, fields) => {
    write(message, fields);
    if (message.startsWith("API ")) logged();
  };
}
const server = await ApiServer.start({ router: new Router([]), tcp: { hostname: "127.0.0.1", port: 0 } });
const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpPort });
await conn.write(new TextEncoder().encode("POST /x HTTP/1.1\\r\\nHost: a\\r\\nExpect: 100-continue\\r\\nContent-Length: 1000\\r\\n\\r\\n"));
// "100 Continue" means the request is being handled and its body awaited: hang up now.
const buffer = new Uint8Array(256);
const n = await conn.read(buffer);
if (!new TextDecoder().decode(buffer.subarray(0, n ?? 0)).startsWith("HTTP/1.1 100")) Deno.exit(3);
await conn.write(new TextEncoder().encode("abc"));
conn.close();
await done;
await server.stop();
`;

Deno.test("a client aborting mid-body is logged at debug without a stack, not at error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-abort-" });
  try {
    await Deno.writeTextFile(`${dir}/abort.ts`, SCRIPT);
    const output = await new Deno.Command(DENO, {
      args: ["run", "-A", "--quiet", `${dir}/abort.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert(output.success, stderr);
    assertStringIncludes(stderr, "DEBUG API client went away");
    assert(!stderr.includes("ERROR"), stderr);
    assert(!stderr.includes("    at "), `a stack was logged:\n${stderr}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
