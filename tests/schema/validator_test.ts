// src/schema: each combinator accepts what it should and refuses the rest with an issue that
// names the field and what was expected; objects drop, refuse or keep unknown fields as their
// kind says; transforms, defaults and refinements apply in order; hostile input costs bounded
// work; and the inferred TypeScript types are the ones the schemas describe.

import { assert, assertEquals, assertThrows } from "../_support/assert.ts";
import { type Issue, SchemaError, z } from "../../src/schema/mod.ts";

function issues(schema: z.Schema, value: unknown): Issue[] {
  const result = schema.safeParse(value);
  assert(!result.success, `expected ${JSON.stringify(value)} to be refused`);
  return result.error.issues;
}

function first(schema: z.Schema, value: unknown): { path: string; code: string; message: string } {
  const [issue] = issues(schema, value);
  return { path: issue.path.join("."), code: issue.code, message: issue.message };
}

Deno.test("string: type, length bounds and patterns, with default and custom messages", () => {
  const name = z.string().min(1).max(5);
  assertEquals(name.parse("abc"), "abc");
  assertEquals(first(name, 3), {
    path: "",
    code: "invalid_type",
    message: "Invalid input: expected string, received number",
  });
  assertEquals(first(name, "").message, "Too small: expected string to have >=1 characters");
  assertEquals(first(name, "abcdef").message, "Too big: expected string to have <=5 characters");
  assertEquals(first(name, "abcdef").code, "too_big");
  assertEquals(
    first(z.string({ message: "name must be text" }), null).message,
    "name must be text",
  );
  const digits = z.string().regex(/^[0-9]+$/);
  assertEquals(digits.parse("42"), "42");
  assertEquals(first(digits, "4x").message, "Invalid string: must match pattern /^[0-9]+$/");
  assertEquals(first(z.string().regex(/^a$/, { message: "only a" }), "b").message, "only a");
  // A global pattern's lastIndex does not leak from one value to the next.
  const global = z.string().regex(/a/g);
  assertEquals([global.safeParse("a").success, global.safeParse("a").success], [true, true]);
});

Deno.test("number: finite only, int within 2^53, bounds with custom messages", () => {
  const port = z.number({ message: "port must be a number" }).int().min(1, {
    message: "port must be 1-65535",
  }).max(65535, { message: "port must be 1-65535" });
  assertEquals(port.parse(22), 22);
  assertEquals(first(port, "22").message, "port must be a number");
  assertEquals(first(port, 0).message, "port must be 1-65535");
  assertEquals(first(port, 65536).message, "port must be 1-65535");
  // The schema's own message stands for every check without one.
  assertEquals(first(port, 1.5).message, "port must be a number");
  assertEquals(
    first(z.number().int(), 1.5).message,
    "Invalid input: expected int, received number",
  );
  assertEquals(first(z.string({ message: "short text" }).max(2), "abc").message, "short text");
  assertEquals(first(z.array(z.string(), { message: "list" }).max(1), ["a", "b"]).message, "list");
  assertEquals(first(z.number(), NaN).message, "Invalid input: expected number, received NaN");
  assertEquals(first(z.number(), Infinity).code, "invalid_type");
  assertEquals(first(z.number().int(), 2 ** 53).code, "too_big");
  assertEquals(first(z.number().min(0), -1).message, "Too small: expected number to be >=0");
  assertEquals(first(z.number().max(9), 10).message, "Too big: expected number to be <=9");
  assertEquals(z.number().parse(2.5), 2.5);
});

Deno.test("boolean, unknown and enum", () => {
  assertEquals(z.boolean().parse(false), false);
  assertEquals(
    first(z.boolean(), "true").message,
    "Invalid input: expected boolean, received string",
  );
  const anything = { deep: [1, { x: null }] };
  assertEquals(z.unknown().parse(anything), anything);
  const action = z.enum(["allow", "drop"]);
  assertEquals(action.parse("drop"), "drop");
  assertEquals(first(action, "permit"), {
    path: "",
    code: "invalid_value",
    message: 'Invalid option: expected one of "allow"|"drop"',
  });
  assertEquals(
    first(z.enum(["tcp"], { message: "transport must be tcp" }), 6).message,
    "transport must be tcp",
  );
});

Deno.test("array: elements checked with their index in the path, the length bound first", () => {
  const list = z.array(z.number()).max(3);
  assertEquals(list.parse([1, 2]), [1, 2]);
  assertEquals(first(list, [1, "x"]), {
    path: "1",
    code: "invalid_type",
    message: "Invalid input: expected number, received string",
  });
  assertEquals(first(list, [1, 2, 3, 4]).message, "Too big: expected array to have <=3 items");
  assertEquals(first(z.array(z.string()).min(1), []).code, "too_small");
  assertEquals(first(list, { 0: 1 }).message, "Invalid input: expected array, received object");
});

Deno.test("hostile input: a long list is refused by its bound, bad elements stop at 100 issues", () => {
  const bounded = z.array(z.strictObject({ port: z.number() })).max(10);
  const huge = new Array(1_000_000).fill("not an object");
  assertEquals(issues(bounded, huge).length, 1);
  // Without a bound every element is looked at, but the issue list stops growing at 100.
  assertEquals(issues(z.array(z.number()), huge).length, 100);
  // The schema sets the depth of the walk: deep nesting under z.unknown() is never entered.
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assertEquals(z.object({ any: z.unknown() }).parse({ any: deep }).any, deep);
});

Deno.test("object drops unknown fields, strictObject refuses them, looseObject keeps them", () => {
  const shape = { a: z.string(), b: z.number().optional() };
  assertEquals(z.object(shape).parse({ a: "x", extra: 1 }), { a: "x" });
  const strict = issues(z.strictObject(shape), { a: "x", extra: 1, more: 2 });
  assertEquals(strict, [{
    code: "unrecognized_keys",
    path: [],
    keys: ["extra", "more"],
    message: 'Unrecognized keys: "extra", "more"',
  }]);
  assertEquals(first(z.strictObject(shape), { a: "x", z: 0 }).message, 'Unrecognized key: "z"');
  assertEquals(z.looseObject(shape).parse({ a: "x", extra: [1] }), { a: "x", extra: [1] });
  // A field's issue comes before the unknown-field issue, as the fields are checked first.
  assertEquals(first(z.strictObject(shape), { a: 1, extra: 1 }).path, "a");
  // An absent field is reported with its path.
  assertEquals(first(z.object(shape), {}), {
    path: "a",
    code: "invalid_type",
    message: "Invalid input: expected string, received undefined",
  });
  assertEquals(
    first(z.object(shape), null).message,
    "Invalid input: expected object, received null",
  );
  assertEquals(
    first(z.object(shape), []).message,
    "Invalid input: expected object, received array",
  );
  // Nested paths join with dots.
  const nested = z.object({ list: z.array(z.object({ port: z.number() })) });
  assertEquals(first(nested, { list: [{ port: 1 }, { port: "x" }] }).path, "list.1.port");
});

Deno.test("a `__proto__` field from JSON stays a plain field", () => {
  const input = JSON.parse('{"a":"x","__proto__":{"polluted":true}}');
  const kept = z.looseObject({ a: z.string() }).parse(input) as Record<string, unknown>;
  assertEquals(Object.getPrototypeOf(kept), Object.prototype);
  assertEquals((kept as { polluted?: boolean }).polluted, undefined);
  assert(Object.hasOwn(kept, "__proto__"));
  const map = z.record(z.string(), z.unknown()).parse(input);
  assertEquals(Object.getPrototypeOf(map), Object.prototype);
  assertEquals(
    first(z.strictObject({ a: z.string() }), input).message,
    'Unrecognized key: "__proto__"',
  );
});

Deno.test("optional, nullish, default and transform", () => {
  const schema = z.object({
    opt: z.string().optional(),
    nul: z.string().nullish(),
    def: z.string().default("none"),
    list: z.array(z.string()).nullish().transform((v) => v ?? []),
  });
  assertEquals(schema.parse({}), { def: "none", list: [] });
  assertEquals(schema.parse({ nul: null, list: null }), { nul: null, def: "none", list: [] });
  assertEquals(schema.parse({ opt: "a", nul: "b", def: "c", list: ["d"] }), {
    opt: "a",
    nul: "b",
    def: "c",
    list: ["d"],
  });
  assertEquals(first(schema, { opt: null }).path, "opt");
  assertEquals(first(schema, { def: null }).path, "def");
  // A transform runs only on a valid value, and its result is the output.
  const lower = z.string().max(3).transform((text) => text.toLowerCase());
  assertEquals(lower.parse("ABC"), "abc");
  assertEquals(first(lower, "ABCD").code, "too_big");
  const code = z.union([z.string(), z.number()]).transform(String).default("error");
  assertEquals([code.parse(7), code.parse(undefined), code.parse("x")], ["7", "error", "x"]);
});

Deno.test("refine: its message, run only on values that passed the other checks", () => {
  let calls = 0;
  const even = z.number().max(10).refine((n) => {
    calls++;
    return n % 2 === 0;
  }, { message: "must be even" });
  assertEquals(even.parse(4), 4);
  assertEquals(first(even, 3), { path: "", code: "custom", message: "must be even" });
  assertEquals(first(even, 12).code, "too_big");
  assertEquals(first(even, "4").code, "invalid_type");
  assertEquals(calls, 2);
  assertEquals(first(z.string().refine(() => false), "x").message, "Invalid input");
  assertEquals(first(z.string().refine(() => false, "plain text"), "x").message, "plain text");
  // After a transform, a refinement sees the transformed value.
  const domain = z.string().transform((t) => t.toLowerCase()).refine((t) => t === "a.b", {
    message: "domain must be a.b",
  });
  assertEquals(domain.parse("A.B"), "a.b");
  assertEquals(first(domain, "c.d").message, "domain must be a.b");
});

Deno.test("schemas are immutable: refining a shared one leaves it as it was", () => {
  const base = z.string();
  const short = base.max(2);
  const described = base.describe("text");
  assertEquals(base.parse("long text"), "long text");
  assertEquals(short.safeParse("long").success, false);
  assertEquals(base.description, undefined);
  assertEquals(described.description, "text");
  const object = z.strictObject({ a: z.string(), secret: z.string() });
  const shown = object.omit({ secret: true });
  const more = object.extend({ b: z.number() });
  assertEquals(shown.parse({ a: "x" }), { a: "x" });
  assertEquals(first(shown, { a: "x", secret: "y" }).code, "unrecognized_keys");
  assertEquals(more.parse({ a: "x", secret: "y", b: 1 }), { a: "x", secret: "y", b: 1 });
  assertEquals(first(object, { a: "x", secret: "y", b: 1 }).code, "unrecognized_keys");
});

Deno.test("union: the first option that accepts; a message naming the options", () => {
  const id = z.union([z.string().max(3), z.number()]);
  assertEquals([id.parse("abc"), id.parse(7)], ["abc", 7]);
  assertEquals(first(id, true), {
    path: "",
    code: "invalid_union",
    message: "Invalid input: expected string or number, received boolean",
  });
  // One option got past its type check: its own issue is the clearer one.
  assertEquals(first(id, "abcd").message, "Too big: expected string to have <=3 characters");
  const objects = z.union([z.object({ a: z.string() }), z.object({ b: z.string() })]);
  assertEquals(first(objects, { c: 1 }).message, "Invalid input");
});

Deno.test("record: every value checked under its key", () => {
  const peers = z.record(z.string(), z.object({ rtt: z.number() }));
  assertEquals(peers.parse({ a: { rtt: 1 } }), { a: { rtt: 1 } });
  assertEquals(first(peers, { a: { rtt: 1 }, b: { rtt: "x" } }).path, "b.rtt");
  assertEquals(first(peers, "x").code, "invalid_type");
});

Deno.test("parse throws a SchemaError whose message names each issue's path", () => {
  const schema = z.object({ olmId: z.string().min(1), secret: z.string() });
  const error = assertThrows(() => schema.parse({ olmId: "" }), SchemaError);
  assertEquals(
    error.message,
    "olmId: Too small: expected string to have >=1 characters; " +
      "secret: Invalid input: expected string, received undefined",
  );
  assertEquals(error.issues.length, 2);
});

// ---- inference: these only compile when z.infer / z.output say what the schemas describe.

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function expectType<T extends true>(_proof: T): void {}

Deno.test("z.infer and z.output give the types the schemas describe", () => {
  const site = z.looseObject({
    siteId: z.number().int(),
    name: z.string().default(""),
    relay: z.string().optional(),
    subnets: z.array(z.string()).nullish().transform((v) => v ?? []),
    kind: z.enum(["a", "b"]).nullish(),
    id: z.union([z.string(), z.number()]),
    peers: z.record(z.string(), z.boolean()),
  });
  type Site = z.output<typeof site>;
  expectType<Equal<Site["siteId"], number>>(true);
  expectType<Equal<Site["name"], string>>(true);
  expectType<Equal<Site["relay"], string | undefined>>(true);
  expectType<Equal<Site["subnets"], string[]>>(true);
  expectType<Equal<Site["kind"], "a" | "b" | null | undefined>>(true);
  expectType<Equal<Site["id"], string | number>>(true);
  expectType<Equal<Site["peers"], Record<string, boolean>>>(true);
  // Optional fields may be left out; required ones may not.
  const value: z.infer<typeof site> = { siteId: 1, name: "", subnets: [], id: 1, peers: {} };
  assertEquals(site.parse(value).siteId, 1);
  const strict = z.strictObject({ a: z.string(), b: z.number().nullish() });
  expectType<Equal<z.infer<typeof strict>, { a: string; b?: number | null | undefined }>>(true);
  const omitted = strict.omit({ b: true });
  expectType<Equal<z.infer<typeof omitted>, { a: string }>>(true);
  // The input of a default may be absent; its output is always there.
  const withDefault = z.object({ n: z.number().default(1) });
  expectType<Equal<z.input<typeof withDefault>, { n?: number | undefined }>>(true);
  expectType<Equal<z.output<typeof withDefault>, { n: number }>>(true);
});
