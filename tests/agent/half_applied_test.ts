// Issue #13 items 8 (agent half) and 13: answers are never half-applied. With the state
// directory refusing writes (read-only: `chattr +i` as root, mode 0500 otherwise) `/switch-org`
// and `ports/allocate` fail without switching or keeping a port at the hub, and say so without
// a path; a rule set larger than the hub's frame limit is refused (413) before anything changes.
import { assert, assertEquals } from "../_support/assert.ts";
import { waitFor } from "../_support/netns.ts";
import type { ApiResponse } from "../../src/api/exchange.ts";
import { MSG } from "../../src/protocol/control.ts";
import { CAN_MOUNT, fillDisk, P, readOnly, withAgent } from "./_agent_fixture.ts";

Deno.test("/switch-org with a read-only state directory: 500 without a path, nothing switched", async () => {
  await withAgent(async ({ hub, agent, stateDir, call }) => {
    const undo = await readOnly(stateDir);
    let answer: ApiResponse;
    try {
      answer = await call("POST", "/switch-org", { orgId: "org_b" });
    } finally {
      await undo();
    }
    assertEquals(answer.status, 500);
    assert(!answer.text!.includes(stateDir), answer.text);
    assert(!answer.text!.includes("/"), `no path in ${JSON.stringify(answer.text)}`);
    assertEquals(agent.status().orgId, "org_a");
    const saved = JSON.parse(await Deno.readTextFile(`${stateDir}/connection.json`));
    assertEquals(saved.params.orgId, "org_a");
    await new Promise((r) => setTimeout(r, 200));
    assert(!hub.logins.some((l) => l.orgId === "org_b"), "the hub never saw the new org");
    // Writable again: the switch goes through and is saved.
    assertEquals((await call("POST", "/switch-org", { orgId: "org_b" })).status, 200);
    await waitFor("the new org", () => agent.status().orgId === "org_b" && agent.isActive);
    const after = JSON.parse(await Deno.readTextFile(`${stateDir}/connection.json`));
    assertEquals(after.params.orgId, "org_b");
  });
});

Deno.test("ports/allocate with a read-only state directory returns the port to the hub", async () => {
  await withAgent(async ({ hub, stateDir, call }) => {
    const undo = await readOnly(stateDir);
    let answer: ApiResponse;
    try {
      answer = await call("GET", `${P}ports/allocate`);
    } finally {
      await undo();
    }
    assertEquals(answer.status, 500);
    const json = answer.json as { status: boolean; error: string };
    assertEquals(json.status, false);
    assert(!json.error.includes("/"), `no path in ${json.error}`);
    assertEquals(hub.allocated.size, 0, "the hub holds no port for the failed allocation");
    assertEquals(hub.released.length, 1);
    assertEquals((await call("GET", `${P}ports/list`)).json, []);
    const ok = await call("GET", `${P}ports/allocate`);
    assertEquals(ok.status, 200);
    assertEquals([...hub.allocated], [(ok.json as { port: number }).port]);
  });
});

Deno.test({
  name: "ports/allocate on a full disk returns the port to the hub",
  ignore: !CAN_MOUNT,
  fn: async () => {
    await withAgent(async ({ hub, stateDir, call }) => {
      await fillDisk(stateDir);
      const answer = await call("GET", `${P}ports/allocate`);
      assertEquals(answer.status, 500);
      const json = answer.json as { status: boolean; error: string };
      assert(!json.error.includes("/"), `no path in ${json.error}`);
      assertEquals(hub.allocated.size, 0, "the hub holds no port for the failed allocation");
      await Deno.remove(`${stateDir}/filler`);
      assertEquals((await call("GET", `${P}ports/allocate`)).status, 200);
      assertEquals(hub.allocated.size, 1);
    }, { tinyDisk: true });
  },
});

Deno.test("a rule set over the hub's frame limit is refused with 413 and changes nothing", async () => {
  await withAgent(async ({ hub, call }) => {
    const before = (await call("GET", `${P}config`)).json as Record<string, unknown>;
    const syncsBefore = hub.frames(MSG.rulesSync).length;
    // Each request is under the API's 1 MiB body cap; together they pass the frame limit.
    const site = (i: number) => ({
      domain: `s${i}.example.com`,
      destination: "127.0.0.1",
      port: 8080,
      firewall: Array.from({ length: 900 }, (_, j) => ({
        sequence: j + 1,
        action: "allow",
        network: `10.${i % 250}.${Math.floor(j / 250)}.${j % 250}/32`,
      })),
    });
    let refused: ApiResponse | undefined;
    for (let batch = 0; batch < 40 && !refused; batch++) {
      const body = { https: Array.from({ length: 4 }, (_, k) => site(batch * 4 + k)) };
      const answer = await call("POST", `${P}traffic/create`, body);
      if (answer.status !== 200) refused = answer;
    }
    assert(refused, "some batch must pass the limit");
    assertEquals(refused.status, 413);
    const json = refused.json as { status: boolean; error: string };
    assertEquals(json.status, false);
    assert(json.error.includes("at most 1048576"), json.error);
    const accepted = (await call("GET", `${P}config`)).json as { https: unknown[] };
    assert(accepted.https.length > (before.https as unknown[]).length);
    // The refused batch was not stored and not sent; the socket stayed up.
    assert(hub.frames(MSG.rulesSync).length > syncsBefore);
    assertEquals(hub.openSockets(), 1);
    assertEquals(hub.registrations, 1);
  });
});
