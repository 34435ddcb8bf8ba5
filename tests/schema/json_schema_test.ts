// src/schema's JSON Schema (2020-12, as OpenAPI 3.1 uses it): each combinator's form, what
// differs between the input and the output side, and what is left out (refinements).

import { assertEquals } from "../_support/assert.ts";
import { z } from "../../src/schema/mod.ts";

const SAFE = Number.MAX_SAFE_INTEGER;

Deno.test("scalars: types, bounds, patterns, enums and descriptions", () => {
  assertEquals(z.toJSONSchema(z.string().min(1).max(64), "input"), {
    type: "string",
    minLength: 1,
    maxLength: 64,
  });
  assertEquals(z.toJSONSchema(z.string().regex(/^[a-z]+$/), "input"), {
    type: "string",
    pattern: "^[a-z]+$",
  });
  assertEquals(z.toJSONSchema(z.number(), "input"), { type: "number" });
  assertEquals(z.toJSONSchema(z.number().int(), "input"), {
    type: "integer",
    minimum: -SAFE,
    maximum: SAFE,
  });
  assertEquals(z.toJSONSchema(z.number().int().min(0).max(65535), "input"), {
    type: "integer",
    minimum: 0,
    maximum: 65535,
  });
  assertEquals(z.toJSONSchema(z.number().int().min(0), "output"), {
    type: "integer",
    minimum: 0,
    maximum: SAFE,
  });
  assertEquals(z.toJSONSchema(z.boolean(), "input"), { type: "boolean" });
  assertEquals(z.toJSONSchema(z.unknown(), "input"), {});
  assertEquals(z.toJSONSchema(z.enum(["tcp", "udp"]), "input"), {
    type: "string",
    enum: ["tcp", "udp"],
  });
  // Refinements have no JSON Schema form; the description comes last.
  assertEquals(
    z.toJSONSchema(z.number().min(0).refine(Number.isInteger).describe("a flow id"), "output"),
    { type: "number", minimum: 0, description: "a flow id" },
  );
});

Deno.test("nullish: a bare type folds into a type list, anything else is anyOf", () => {
  assertEquals(z.toJSONSchema(z.boolean().nullish(), "input"), { type: ["boolean", "null"] });
  assertEquals(z.toJSONSchema(z.string().max(9).nullish(), "input"), {
    anyOf: [{ type: "string", maxLength: 9 }, { type: "null" }],
  });
  assertEquals(z.toJSONSchema(z.string().optional(), "input"), { type: "string" });
  assertEquals(z.toJSONSchema(z.union([z.string(), z.number()]), "input"), {
    type: ["string", "number"],
  });
  assertEquals(z.toJSONSchema(z.union([z.string().max(1), z.number()]), "input"), {
    anyOf: [{ type: "string", maxLength: 1 }, { type: "number" }],
  });
});

Deno.test("objects: required fields per side, unknown fields per kind", () => {
  const shape = {
    a: z.string(),
    b: z.number().optional(),
    c: z.boolean().default(false),
    d: z.string().transform((t) => t.length),
  };
  const properties = {
    a: { type: "string" },
    b: { type: "number" },
    c: { type: "boolean", default: false },
    d: { type: "string" },
  };
  // A plain object drops unknown fields: its input may have them, its output never does.
  assertEquals(z.toJSONSchema(z.object(shape), "input"), {
    type: "object",
    properties,
    required: ["a", "d"],
  });
  assertEquals(z.toJSONSchema(z.object(shape), "output"), {
    type: "object",
    properties: { ...properties, d: {} },
    required: ["a", "c", "d"],
    additionalProperties: false,
  });
  assertEquals(z.toJSONSchema(z.strictObject({ a: z.string() }), "input"), {
    type: "object",
    properties: { a: { type: "string" } },
    required: ["a"],
    additionalProperties: false,
  });
  assertEquals(z.toJSONSchema(z.looseObject({ a: z.string().optional() }), "input"), {
    type: "object",
    properties: { a: { type: "string" } },
    additionalProperties: {},
  });
});

Deno.test("arrays and records", () => {
  assertEquals(z.toJSONSchema(z.array(z.string()).max(10), "input"), {
    maxItems: 10,
    type: "array",
    items: { type: "string" },
  });
  assertEquals(z.toJSONSchema(z.record(z.string(), z.unknown()), "output"), {
    type: "object",
    propertyNames: { type: "string" },
    additionalProperties: {},
  });
});
