// GET /openapi.json (issue #14 item 5): the document lists exactly the router's routes and
// methods, its request bodies are the validators' own zod schemas as JSON Schema, and real
// answers of the routes match the response schemas it publishes.

import { assert, assertEquals } from "../_support/assert.ts";
import { fakeTunnels } from "../_support/fake_device.ts";
import { startEngine } from "../rules/_fixtures.ts";
import { withApi } from "./_fixture.ts";
import { agentRouter, newAgent } from "../../src/agent/compose.ts";
import { apiRequest } from "../../src/api/exchange.ts";
import type { Router } from "../../src/api/router.ts";
import { jsonSchemaOf } from "../../src/api/openapi.ts";
import { connectBodySchema, switchOrgBodySchema } from "../../src/api/olm.ts";
import {
  configSchema,
  healthSchema,
  infoSchema,
  olmStatusSchema,
  portsListSchema,
} from "../../src/api/api_schemas.ts";
import {
  httpsRuleSchema,
  portMapRuleSchema,
  portRuleSchema,
  releaseSchema,
} from "../../src/protocol/mod.ts";
import { Logger } from "../../src/log/logger.ts";

type Json = Record<string, unknown>;

async function withFullRouter(fn: (router: Router) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bag-openapi-" });
  const engine = await startEngine();
  const agent = await newAgent({
    stateDir: dir,
    tunnels: fakeTunnels(),
    log: new Logger({ level: "error", write: () => {} }),
  });
  try {
    await fn(agentRouter(agent, undefined, engine.engine));
  } finally {
    await agent.close();
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function document(router: Router): Promise<Json> {
  const answer = await router.handle(apiRequest({ method: "GET", target: "/openapi.json" }));
  assertEquals([answer.status, answer.headers?.["content-type"]], [200, "application/json"]);
  return JSON.parse(answer.text!);
}

Deno.test("the OpenAPI document lists every route and method of the router, nothing more", async () => {
  await withFullRouter(async (router) => {
    const doc = await document(router);
    assertEquals(doc.openapi, "3.1.0");
    const fromRouter = router.routes().flatMap((r) =>
      r.methods.map((m) => `${m.toLowerCase()} ${r.path}`)
    ).sort();
    const paths = doc.paths as Record<string, Record<string, Json>>;
    const fromDoc = Object.entries(paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method} ${path}`)
    ).sort();
    assertEquals(fromDoc, fromRouter);
    // Both families, the document and the metrics are there.
    for (const route of ["get /status", "post /connect", "get /metrics", "get /openapi.json"]) {
      assert(fromDoc.includes(route), route);
    }
    assert(fromDoc.includes("get /api/client/v1.0/traffic/delete"));
    assert(fromDoc.includes("delete /api/client/v1.0/traffic/delete"));
    // Every operation has a summary, a success answer and the family's error answers.
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        assert(
          typeof op.summary === "string" && op.summary !== "undocumented",
          `${method} ${path}`,
        );
        const responses = op.responses as Record<string, Json>;
        assert(Object.keys(responses).some((s) => s.startsWith("2")), `${method} ${path}`);
        assert(responses["405"], `${method} ${path} documents 405`);
        ids.add(op.operationId as string);
      }
    }
    assertEquals(ids.size, fromDoc.length, "operationIds are unique");
    const statusErr = paths["/status"].get.responses as Record<string, Json>;
    assertEquals(Object.keys(statusErr["405"].content as Json).sort(), [
      "application/json",
      "text/plain",
    ]);
  });
});

Deno.test("request bodies in the document are the validators' schemas", async () => {
  await withFullRouter(async (router) => {
    const paths = (await document(router)).paths as Record<string, Record<string, Json>>;
    const body = (path: string, method = "post") => {
      const op = paths[path][method];
      const content = (op.requestBody as Json | undefined)?.content as Json | undefined;
      return (content?.["application/json"] as Json | undefined)?.schema as Json | undefined;
    };
    assertEquals(body("/connect"), jsonSchemaOf(connectBodySchema, "input"));
    assertEquals(body("/switch-org"), jsonSchemaOf(switchOrgBodySchema, "input"));
    const pr = "/api/client/v1.0/";
    assertEquals(body(`${pr}ports/release`), jsonSchemaOf(releaseSchema, "input"));
    const create = body(`${pr}traffic/create`)!;
    const items = (kind: string) => {
      const property = (create.properties as Json)[kind] as Json;
      return ((property.anyOf as Json[])[0].items) as Json;
    };
    assertEquals(items("https"), jsonSchemaOf(httpsRuleSchema, "input"));
    assertEquals(items("ports"), jsonSchemaOf(portRuleSchema, "input"));
    assertEquals(items("portmaps"), jsonSchemaOf(portMapRuleSchema, "input"));
    assertEquals(create.additionalProperties, false);
    assertEquals(body(`${pr}traffic/update`), create);
    for (const method of ["get", "post", "delete"]) {
      assert(body(`${pr}traffic/delete`, method), `traffic/delete ${method} has a body`);
    }
    // Routes that read no body document none.
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        const reads = /\/(connect|switch-org|traffic\/\w+|ports\/release)$/.test(path);
        assertEquals(op.requestBody !== undefined, reads, `${method} ${path}`);
      }
    }
    // What the document says is what the handler refuses: a wrong type is 400 at the route.
    const refused = await router.handle(apiRequest({
      method: "POST",
      target: "/connect",
      body: JSON.stringify({ id: "a", secret: "b", endpoint: "http://h", mtu: "big" }),
    }));
    assertEquals(refused.status, 400);
    const release = await router.handle(apiRequest({
      method: "POST",
      target: `${pr}ports/release`,
      body: '{"port":0}',
    }));
    assertEquals(release.status, 400);
  });
});

Deno.test("real answers match the published response schemas", async () => {
  await withFullRouter(async (router) => {
    const get = async (target: string) => {
      const answer = await router.handle(apiRequest({ method: "GET", target }));
      assertEquals(answer.status, 200, target);
      return answer.json ?? JSON.parse(answer.text!);
    };
    const pr = "/api/client/v1.0/";
    await router.handle(apiRequest({
      method: "POST",
      target: `${pr}traffic/create`,
      body: JSON.stringify({
        https: [{ domain: "a.example.com", destination: "127.0.0.1", port: 9 }],
        portmaps: [{ port: 15999, dstPort: 22, destination: "10.0.0.1" }],
      }),
    }));
    olmStatusSchema.parse(await get("/status"));
    infoSchema.parse(await get(`${pr}info`));
    const config = configSchema.parse(await get(`${pr}config`));
    assertEquals(config.https.length, 1);
    portsListSchema.parse(await get(`${pr}ports/list`));
    const health = healthSchema.parse(await get(`${pr}health`));
    assertEquals(health.services.length, 1);
  });
});

Deno.test("the document is served on the API's listeners", async () => {
  await withApi(async ({ curl }) => {
    const answer = await curl("unix", "/openapi.json");
    assertEquals([answer.status, answer.contentType], [200, "application/json"]);
    const doc = answer.json<{ openapi: string; paths: Json }>();
    assertEquals(doc.openapi, "3.1.0");
    assert("/connect" in doc.paths && "/metrics" in doc.paths);
  });
});
