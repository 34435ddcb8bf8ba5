// A newer burrow saved in the state directory runs in place of the installed one, and the
// Packetriot `info` route tells the two versions apart.
import { assertEquals } from "../_support/assert.ts";
import { REPO_ROOT, startAgent } from "../_support/burrow.ts";
import { stopProcess, waitFor } from "../_support/netns.ts";
import { freePort } from "../_support/ports.ts";
import { VERSION } from "../../src/version.ts";

async function info(port: number) {
  const response = await fetch(`http://127.0.0.1:${port}/api/client/v1.0/info`);
  return await response.json();
}

/** A copy of this checkout that calls itself `version`, sharing the installed Deno. */
async function newerCheckout(dir: string, version: string): Promise<string> {
  const copy = await new Deno.Command("cp", {
    args: [
      "-a",
      `${REPO_ROOT}main.ts`,
      `${REPO_ROOT}src`,
      `${REPO_ROOT}deno.lock`,
      `${REPO_ROOT}burrow`,
      `${REPO_ROOT}tools`,
      dir,
    ],
  }).output();
  assertEquals(copy.code, 0);
  const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}deno.json`));
  await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ ...config, version }));
  await Deno.symlink(`${REPO_ROOT}.tools`, `${dir}/.tools`);
  return `${dir}/burrow`;
}

async function withAgent(
  stateDir: string,
  fn: (port: number, child: Deno.ChildProcess) => Promise<void>,
) {
  const port = freePort();
  const child = startAgent(null, {
    stateDir,
    args: ["--api-port", String(port)],
    env: { BURROW_INSTALLED_VERSION: "" },
  });
  try {
    await waitFor("the agent API", async () => (await info(port)).status === true, 20_000, 100);
    await fn(port, child);
  } finally {
    await stopProcess(child);
  }
}

Deno.test("info reports the installed version as running when no update is saved", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withAgent(`${dir}/state`, async (port) => {
      const answer = await info(port);
      assertEquals(answer.version, `v${VERSION}`);
      assertEquals(answer.runtimeVersion, `v${VERSION}`);
      assertEquals(answer.isUpdated, false);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a newer burrow saved in the state directory runs and info says isUpdated", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/newer`);
    const launcher = await newerCheckout(`${dir}/newer`, "9.9.9");
    await Deno.mkdir(`${dir}/state/update`, { recursive: true });
    const update = `${dir}/state/update/burrow`;
    await Deno.writeTextFile(update, `#!/bin/sh\nexec ${launcher} "$@"\n`, { mode: 0o755 });
    await withAgent(`${dir}/state`, async (port, child) => {
      const answer = await info(port);
      assertEquals(answer.version, `v${VERSION}`);
      assertEquals(answer.runtimeVersion, "v9.9.9");
      assertEquals(answer.isUpdated, true);
      // The installed agent relays SIGTERM: the update stops and the port closes.
      child.kill("SIGTERM");
      const status = await child.status;
      assertEquals(status.success, true);
      await waitFor("the API port to close", async () => {
        try {
          await info(port);
          return false;
        } catch {
          return true;
        }
      }, 10_000);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
