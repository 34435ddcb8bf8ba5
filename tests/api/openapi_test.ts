// GET /openapi.json (issue #14 item 5): the document lists exactly the router's routes and
// methods, its request bodies are the validators' own schemas (src/schema) as JSON Schema, and real
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

Deno.test("the document keeps the JSON Schema forms clients were given", async () => {
  await withFullRouter(async (router) => {
    const paths = (await document(router)).paths as Record<string, Record<string, Json>>;
    const schemaOf = (content: unknown) =>
      ((content as Json)["application/json"] as Json).schema as Json;
    const body = (path: string, method = "post") =>
      schemaOf((paths[path][method].requestBody as Json).content);
    const answer = (path: string, status: string, method = "get") =>
      schemaOf(((paths[path][method].responses as Json)[status] as Json).content);
    // A plain object's input: no required list when every field is optional, unknown fields
    // allowed (Olm ignores them); bounds and patterns kept, refinements left out.
    assertEquals(body("/switch-org"), {
      type: "object",
      properties: { orgId: { type: "string" }, org_id: { type: "string" } },
    });
    const connect = body("/connect").properties as Json;
    assertEquals(connect.mtu, { type: "integer", minimum: 576, maximum: 65535 });
    assertEquals(connect.interfaceName, { type: "string", pattern: "^[A-Za-z0-9_.-]{1,15}$" });
    assertEquals(connect.upstreamDNS, { type: "array", items: { type: "string" } });
    // Strict objects refuse unknown fields; nullish bare types fold into a type list.
    const pr = "/api/client/v1.0/";
    const https = ((body(`${pr}traffic/create`).properties as Json).https as Json).anyOf as Json[];
    assertEquals(https[1], { type: "null" });
    assertEquals([https[0].maxItems, https[0].type], [1000, "array"]);
    const site = https[0].items as Json;
    assertEquals([site.required, site.additionalProperties], [["domain"], false]);
    const fields = site.properties as Json;
    assertEquals(fields.domain, { type: "string", maxLength: 253 });
    assertEquals(fields.secure, { type: ["boolean", "null"] });
    assertEquals(fields.port, {
      anyOf: [{ type: "integer", minimum: 0, maximum: 65535 }, { type: "null" }],
    });
    // A delete names objects by key only and lets the rest through.
    const keys = ((body(`${pr}traffic/delete`, "get").properties as Json).https as Json)
      .anyOf as Json[];
    assertEquals(keys[0].items, {
      type: "object",
      properties: { domain: { type: "string", maxLength: 253 } },
      required: ["domain"],
      additionalProperties: {},
    });
    // Outputs: closed objects, integers within 2^53, maps as records, descriptions kept, a
    // transformed field (the lower-cased domain) any value.
    const peer = (answer("/status", "200").properties as Json).peers as Json;
    assertEquals([peer.type, peer.propertyNames], ["object", { type: "string" }]);
    const peerFields = (peer.additionalProperties as Json).properties as Json;
    assertEquals(peerFields.siteId, {
      type: "integer",
      minimum: -Number.MAX_SAFE_INTEGER,
      maximum: Number.MAX_SAFE_INTEGER,
    });
    assertEquals(peerFields.rtt, { type: "number", description: "nanoseconds; 0 when unknown" });
    assertEquals(answer(`${pr}info`, "200").additionalProperties, false);
    const service = ((answer(`${pr}health`, "200").properties as Json).services as Json)
      .items as Json;
    const http = (service.properties as Json).http as Json;
    assertEquals((http.properties as Json).domain, {});
    assertEquals("privateKey" in (http.properties as Json), false);
    assertEquals(answer("/openapi.json", "200"), {
      type: "object",
      propertyNames: { type: "string" },
      additionalProperties: {},
    });
  });
});
