// Errors a user can act on (issue #14 item 9): Olm routes keep their plain-text answers, and a
// client that asks with `?format=json` or `Accept: application/json` gets the same message as
// JSON; Packetriot's health answer carries each flowID also as an exact decimal string.

import { assertEquals } from "../_support/assert.ts";
import { withApi } from "./_fixture.ts";
import { apiRequest } from "../../src/api/exchange.ts";
import { Router } from "../../src/api/router.ts";
import { packetriotRoutes } from "../../src/api/packetriot.ts";
import type { PacketriotRules } from "../../src/api/backend.ts";

Deno.test("Olm errors stay plain text and become JSON on request", async () => {
  await withApi(async ({ curl }) => {
    // The seed's texts, unchanged, without a request for JSON.
    const plain = await curl("unix", "/disconnect", ["-X", "POST"]);
    assertEquals([plain.status, plain.contentType, plain.body], [
      409,
      "text/plain; charset=utf-8",
      "Not connected to any server\n",
    ]);
    const asQuery = await curl("unix", "/disconnect?format=json", ["-X", "POST"]);
    assertEquals([asQuery.status, asQuery.contentType], [409, "application/json"]);
    assertEquals(asQuery.json(), { error: "Not connected to any server", status: 409 });
    const asAccept = await curl("tcp", "/status", [
      "-X",
      "DELETE",
      "-H",
      "Accept: text/html, application/json;q=0.9",
    ]);
    assertEquals(asAccept.json(), { error: "Method not allowed", status: 405 });
    const missing = await curl("unix", "/connect", [
      "-X",
      "POST",
      "-H",
      "Accept: application/json",
      "-d",
      '{"id":"x"}',
    ]);
    assertEquals(missing.json(), {
      error: "Missing required fields: id, secret, and endpoint must be provided",
      status: 400,
    });
    const unknown = await curl("unix", "/nowhere?format=json");
    assertEquals(unknown.json(), { error: "Not found", status: 404 });
    // Refusals before routing (a browser's request) follow the same choice.
    const browser = await curl("unix", "/status?format=json", ["-H", "Origin: http://evil"]);
    assertEquals(browser.json(), {
      error: "Forbidden: browser requests are not allowed",
      status: 403,
    });
    // Packetriot paths keep their own envelope either way.
    const pr = await curl("unix", "/api/client/v1.0/nowhere?format=json");
    assertEquals(pr.json(), { status: false, error: "Not found" });
  });
});

Deno.test("a token refusal on TCP is JSON when asked", async () => {
  await withApi(async ({ curl }) => {
    const text = await curl("tcp", "/status");
    assertEquals([text.status, text.body], [401, "Unauthorized\n"]);
    const json = await curl("tcp", "/status", ["-H", "Accept: application/json"]);
    assertEquals(json.json(), { error: "Unauthorized", status: 401 });
  }, { apiToken: "t0ken" });
});

Deno.test("health writes each flowID as an exact integer and as a string", async () => {
  const big = 18446744073709551557n; // above 2^53: a double would round it
  const rules = {
    health: () => Promise.resolve([{ flowID: big, available: true }]),
  } as unknown as PacketriotRules;
  const tunnel = { isConnected: () => true, start: () => true, shutdown() {}, restart() {} };
  const router = new Router(
    packetriotRoutes(tunnel, rules, { version: "v1", runtimeVersion: "v1", arch: "amd64" }),
  );
  const answer = await router.handle(
    apiRequest({ method: "GET", target: "/api/client/v1.0/health" }),
  );
  assertEquals(answer.status, 200);
  assertEquals(
    answer.text,
    `{"status":true,"error":"","services":[{"flowID":${big},"available":true,` +
      `"flowIDString":"${big}"}]}`,
  );
  assertEquals(JSON.parse(answer.text!).services[0].flowIDString, big.toString());
});
