// The TLS and metrics flags as a user meets them: listed in --help with their environment
// variables, and a client CA without a server certificate refused in one line, exit code 2.
import { assertEquals, assertStringIncludes } from "../_support/assert.ts";

const BURROW = new URL("../../burrow", import.meta.url).pathname;

async function burrow(args: string[]) {
  const output = await new Deno.Command(BURROW, { args, stdin: "null" }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("--help lists the TLS and metrics flags", async () => {
  const agent = await burrow(["agent", "--help"]);
  for (const text of ["--hub-ca", "HUB_CA", "--tls-client-cert", "TLS_CLIENT_CERT"]) {
    assertStringIncludes(agent.stdout, text);
  }
  const hub = await burrow(["hub", "--help"]);
  for (const text of ["--client-ca", "BURROW_HUB_CLIENT_CA", "--metrics-addr"]) {
    assertStringIncludes(hub.stdout, text);
  }
});

Deno.test("burrow hub refuses --client-ca without --tls-cert", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bcli-ops-" });
  try {
    const result = await burrow([
      "hub",
      "--state-dir",
      dir,
      "--public-host",
      "127.0.0.1",
      "--client-ca",
      `${dir}/ca.pem`,
    ]);
    assertEquals(result.code, 2);
    assertStringIncludes(result.stderr, "--client-ca needs --tls-cert and --tls-key");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
