// Tests for src/api/router.ts and src/api/api_errors.ts: matching, 404/405 and both envelopes.
import { assertEquals, assertThrows } from "../_support/assert.ts";
import { apiRequest, type Route } from "../../src/api/exchange.ts";
import { Router } from "../../src/api/router.ts";
import { ApiError } from "../../src/api/api_errors.ts";
import { log, Logger } from "../../src/log/logger.ts";

const routes: Route[] = [
  {
    family: "olm",
    methods: ["GET"],
    path: "/health",
    handle: () => ({ status: 200, json: { status: "ok" } }),
  },
  {
    family: "olm",
    methods: ["POST"],
    path: "/boom",
    handle: () => {
      throw new Error("internal detail with s3cr3t");
    },
  },
  {
    family: "packetriot",
    methods: ["GET"],
    path: "/api/client/v1.0/info",
    handle: () => {
      throw new ApiError(409, "busy");
    },
  },
];
const router = new Router(routes);

Deno.test("Router answers a matching route and keeps the body of a GET", async () => {
  assertEquals(await router.handle(apiRequest({ method: "get", target: "/health?x=1" })), {
    status: 200,
    json: { status: "ok" },
  });
  const req = apiRequest({ method: "GET", target: "/a?b=c", body: "{}", headers: { "X-Y": "z" } });
  assertEquals([req.path, req.query.get("b"), req.text(), req.headers["x-y"]], [
    "/a",
    "c",
    "{}",
    "z",
  ]);
});

Deno.test("Router answers 404 and 405 in the family's envelope", async () => {
  const olm404 = await router.handle(apiRequest({ method: "GET", target: "/nope" }));
  assertEquals([olm404.status, olm404.text], [404, "Not found\n"]);
  const olm405 = await router.handle(apiRequest({ method: "POST", target: "/health" }));
  assertEquals([olm405.status, olm405.text, olm405.headers?.allow], [
    405,
    "Method not allowed\n",
    "GET",
  ]);
  const pr404 = await router.handle(apiRequest({ method: "GET", target: "/api/client/v1.0/x" }));
  assertEquals([pr404.status, pr404.json], [404, { status: false, error: "Not found" }]);
  const pr405 = await router.handle(apiRequest({ method: "PUT", target: "/api/client/v1.0/info" }));
  assertEquals([pr405.status, pr405.json], [405, { status: false, error: "Method not allowed" }]);
});

Deno.test("Router turns ApiError into its status and anything else into a bare, logged 500", async () => {
  const pr = await router.handle(apiRequest({ method: "GET", target: "/api/client/v1.0/info" }));
  assertEquals([pr.status, pr.json], [409, { status: false, error: "busy" }]);
  const lines: string[] = [];
  const original = { level: log.level };
  const capture = new Logger({ write: (l) => lines.push(l) });
  // The router logs through the process logger; swap its writer for this test.
  const logError = log.error.bind(log);
  log.error = (message, fields) => capture.error(message, fields);
  try {
    const boom = await router.handle(apiRequest({ method: "POST", target: "/boom" }));
    assertEquals([boom.status, boom.text], [500, "Internal server error\n"]);
    assertEquals(lines.length, 1, "the unexpected error is logged");
  } finally {
    log.error = logError;
    log.level = original.level;
  }
});

Deno.test("Router refuses two routes for the same method and path", () => {
  assertThrows(() => new Router([routes[0], { ...routes[0] }]), TypeError, "routed twice");
});
