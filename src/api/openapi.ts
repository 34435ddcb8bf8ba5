// `GET /openapi.json`: an OpenAPI 3.1 document of every route of the router it is built for,
// generated from each route's doc (src/api/exchange.ts's RouteDoc). Request bodies are the
// schemas the handlers validate with, turned into JSON Schema by src/schema itself, so the
// document says what the code does.

import { z } from "../schema/mod.ts";
import { VERSION } from "../version.ts";
import { envelopeSchema, olmErrorSchema } from "./api_schemas.ts";
import type { ResponseDoc, Route, RouteDoc } from "./exchange.ts";

/** The path the document is served at. */
export const OPENAPI_PATH = "/openapi.json";

type JsonSchema = Record<string, unknown>;

/**
 * A schema as JSON Schema 2020-12 (what OpenAPI 3.1 uses). Refinements (a domain's pattern, a
 * URL's checks) have no JSON Schema form: the document keeps the type and bounds, and the
 * validator checks the rest; a transform's output is any value (`{}`).
 */
export function jsonSchemaOf(schema: z.Schema, io: "input" | "output"): JsonSchema {
  return z.toJSONSchema(schema, io);
}

const ERROR_TEXT: Record<number, string> = {
  400: "the request is invalid; the message names the problem",
  401: "the TCP listener wants `Authorization: Bearer TOKEN`",
  403: "a browser's request (Origin or Referer header) is refused",
  404: "nothing of that name exists",
  405: "another method",
  409: "a conflict with the agent's state",
  413: "the body is larger than 1 MiB",
  500: "an unexpected failure (details in the log)",
  502: "the hub is unreachable",
};

/** Statuses every route may answer: the listeners' refusals and a wrong method. */
const COMMON_ERRORS = [401, 403, 405, 413];

function errorResponses(route: Route, doc: RouteDoc): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const statuses = [...new Set([...COMMON_ERRORS, ...(doc.errors ?? [])])].sort();
  for (const status of statuses) {
    const description = ERROR_TEXT[status] ?? "an error";
    out[String(status)] = route.family === "packetriot"
      ? {
        description,
        content: { "application/json": { schema: jsonSchemaOf(envelopeSchema, "output") } },
      }
      : {
        description: `${description}; plain text, or JSON with ?format=json or ` +
          "Accept: application/json",
        content: {
          "text/plain": { schema: { type: "string" } },
          "application/json": { schema: jsonSchemaOf(olmErrorSchema, "output") },
        },
      };
  }
  return out;
}

function successResponse(answer: ResponseDoc): Record<string, unknown> {
  if ("json" in answer) {
    return {
      description: answer.description,
      content: { "application/json": { schema: jsonSchemaOf(answer.json, "output") } },
    };
  }
  return {
    description: answer.description,
    content: { [answer.text]: { schema: { type: "string" } } },
  };
}

/** The operation object of one route (the same for each of its methods). */
function operation(route: Route, method: string): Record<string, unknown> {
  const doc: RouteDoc = route.doc ?? { summary: "undocumented", responses: {} };
  const responses: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(doc.responses)) {
    responses[status] = successResponse(answer);
  }
  Object.assign(responses, errorResponses(route, doc));
  const op: Record<string, unknown> = {
    operationId: `${route.family}${method[0]}${method.slice(1).toLowerCase()}${
      route.path.replace(/^\/api\/client\/v1\.0/, "").replace(/[^A-Za-z0-9]+(.)?/g, (_, c) =>
        c ? c.toUpperCase() : "")
    }`,
    summary: doc.summary,
    tags: [route.family],
    responses,
  };
  if (doc.request) {
    op.requestBody = {
      required: true,
      content: { "application/json": { schema: jsonSchemaOf(doc.request, "input") } },
    };
  }
  return op;
}

/**
 * The OpenAPI 3.1 document of `routes`: one path item per path, one operation per method.
 */
export function openApiDocument(routes: readonly Route[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const item = paths[route.path] ??= {};
    for (const method of route.methods) item[method.toLowerCase()] = operation(route, method);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "burrow agent local API",
      version: VERSION,
      description: "Olm routes at the root, Packetriot routes under /api/client/v1.0/. " +
        "See docs/api.md.",
    },
    tags: [
      { name: "olm", description: "session control, Olm's bodies and plain-text errors" },
      { name: "packetriot", description: "tunnel, traffic rules and ports; {status, error}" },
    ],
    paths,
  };
}

/**
 * The `GET /openapi.json` route over `routes` (the route itself is added to the document).
 * The document is built once, on the first request.
 */
export function openApiRoute(routes: readonly Route[]): Route {
  let document: string | undefined;
  const self: Route = {
    family: "olm",
    methods: ["GET"],
    path: OPENAPI_PATH,
    doc: {
      summary: "this document: OpenAPI 3.1 of every route",
      responses: { 200: { description: "the document", json: z.record(z.string(), z.unknown()) } },
    },
    handle() {
      document ??= JSON.stringify(openApiDocument([...routes, self]));
      return { status: 200, text: document, headers: { "content-type": "application/json" } };
    },
  };
  return self;
}
