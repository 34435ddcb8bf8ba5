// The builders callers reach as `z.string()`, `z.object({...})`, ..., and the type helpers
// `z.infer`, `z.output` and `z.input`: the small subset of zod's surface burrow used, with the
// same names so a schema reads as it did.

import { messageOf, type MessageParam } from "./issues.ts";
import type { AnySchema, Input, Io, Json, Output } from "./schema_base.ts";
import { BooleanSchema, EnumSchema, NumberSchema, StringSchema, UnknownSchema } from "./scalars.ts";
import { ArraySchema, ObjectSchema, RecordSchema, type Shape, UnionSchema } from "./containers.ts";

export function string(param?: MessageParam): StringSchema {
  return new StringSchema(messageOf(param));
}

export function number(param?: MessageParam): NumberSchema {
  return new NumberSchema(messageOf(param));
}

export function boolean(param?: MessageParam): BooleanSchema {
  return new BooleanSchema(messageOf(param));
}

export function unknown(): UnknownSchema {
  return new UnknownSchema();
}

function enumOf<const T extends readonly [string, ...string[]]>(
  values: T,
  param?: MessageParam,
): EnumSchema<T[number]> {
  return new EnumSchema<T[number]>(values, messageOf(param));
}

export function array<E extends AnySchema>(element: E, param?: MessageParam): ArraySchema<E> {
  return new ArraySchema(element, messageOf(param));
}

/** An object that drops fields its shape does not name. */
export function object<S extends Shape>(shape: S): ObjectSchema<S, "strip"> {
  return new ObjectSchema(shape, "strip");
}

/** An object that refuses fields its shape does not name (issue code `unrecognized_keys`). */
export function strictObject<S extends Shape>(shape: S): ObjectSchema<S, "strict"> {
  return new ObjectSchema(shape, "strict");
}

/** An object that keeps fields its shape does not name, unchecked. */
export function looseObject<S extends Shape>(shape: S): ObjectSchema<S, "loose"> {
  return new ObjectSchema(shape, "loose");
}

export function union<const T extends readonly [AnySchema, ...AnySchema[]]>(
  options: T,
): UnionSchema<T> {
  return new UnionSchema(options);
}

export function record<K extends StringSchema, V extends AnySchema>(
  keys: K,
  values: V,
): RecordSchema<K, V> {
  return new RecordSchema(keys, values);
}

/** The JSON Schema (2020-12) of what `schema` accepts (`input`) or returns (`output`). */
export function toJSONSchema(schema: AnySchema, io: Io): Json {
  return schema.jsonSchema(io);
}

export { enumOf as enum };
export type { Input as input, Output as infer, Output as output };
export type { AnySchema as Schema };
export type { SchemaError } from "./issues.ts";
