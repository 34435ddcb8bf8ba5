// The schemas that hold others: arrays, objects (unknown fields dropped, refused or kept),
// records and unions. Children are checked in order and checking stops when the issue list is
// full, so a huge hostile input costs no more than its size.

import {
  boundMessage,
  type Issue,
  IssueSink,
  type MessageParam,
  type PathKey,
  typeMessage,
} from "./issues.ts";
import { anyOf, type AnySchema, INVALID, type Io, type Json, Schema } from "./schema_base.ts";

export class ArraySchema<E extends AnySchema> extends Schema<E["_output"][], E["_input"][]> {
  minItems?: { count: number; message: string };
  maxItems?: { count: number; message: string };
  constructor(readonly element: E, message?: string) {
    super();
    this.customMessage = message;
  }

  protected checkType(value: unknown, path: PathKey[], sink: IssueSink): unknown {
    if (!Array.isArray(value)) {
      sink.add({
        code: "invalid_type",
        path,
        message: this.customMessage ?? typeMessage("array", value),
      });
      return INVALID;
    }
    // The length first: a list over its bound is refused before any element is looked at.
    if (this.maxItems && value.length > this.maxItems.count) {
      sink.add({ code: "too_big", path, message: this.maxItems.message });
      return INVALID;
    }
    if (this.minItems && value.length < this.minItems.count) {
      sink.add({ code: "too_small", path, message: this.minItems.message });
      return INVALID;
    }
    const out: unknown[] = [];
    let failed = false;
    for (let i = 0; i < value.length && !sink.full; i++) {
      const item = this.element.run(value[i], [...path, i], sink);
      if (item === INVALID) failed = true;
      else out.push(item);
    }
    return failed || sink.full ? INVALID : out;
  }

  min(count: number, param?: MessageParam): this {
    const message = this.messageFor(param, boundMessage("array", "min", count));
    return this.with({ minItems: { count, message } });
  }

  max(count: number, param?: MessageParam): this {
    const message = this.messageFor(param, boundMessage("array", "max", count));
    return this.with({ maxItems: { count, message } });
  }

  protected typeJson(io: Io): Json {
    const json: Json = {};
    if (this.minItems) json.minItems = this.minItems.count;
    if (this.maxItems) json.maxItems = this.maxItems.count;
    json.type = "array";
    json.items = this.element.jsonSchema(io);
    return json;
  }
}

/** The fields of an object schema. */
export type Shape = Record<string, AnySchema>;

/** What an object does with fields its shape does not name. */
export type UnknownKeys = "strip" | "strict" | "loose";

type OptionalKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];
type Simplify<T> = { [K in keyof T]: T[K] };
/** Fields whose type admits `undefined` become optional, as in the JSON the schema reads. */
type WithOptionalKeys<T> = Simplify<
  & { [K in Exclude<keyof T, OptionalKeys<T>>]: T[K] }
  & { [K in OptionalKeys<T>]?: T[K] }
>;
type ShapeOutput<S extends Shape> = WithOptionalKeys<{ [K in keyof S]: S[K]["_output"] }>;
type ShapeInput<S extends Shape> = WithOptionalKeys<{ [K in keyof S]: S[K]["_input"] }>;
type Extra<U extends UnknownKeys> = U extends "loose" ? { [key: string]: unknown } : unknown;

/** Whether `value` is a JSON object (not null, not an array); if not, says so in `sink`. */
function isObject(
  value: unknown,
  expected: "object" | "record",
  path: PathKey[],
  sink: IssueSink,
): value is Record<string, unknown> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) return true;
  sink.add({ code: "invalid_type", path, message: typeMessage(expected, value) });
  return false;
}

/** Sets a field even when its name is `__proto__` (JSON.parse makes such own fields). */
function setField(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

export class ObjectSchema<S extends Shape, U extends UnknownKeys> extends Schema<
  ShapeOutput<S> & Extra<U>,
  ShapeInput<S> & Extra<U>
> {
  constructor(readonly shape: S, readonly unknownKeys: U) {
    super();
  }

  protected checkType(value: unknown, path: PathKey[], sink: IssueSink): unknown {
    if (!isObject(value, "object", path, sink)) return INVALID;
    const out: Record<string, unknown> = {};
    let failed = false;
    for (const key of Object.keys(this.shape)) {
      if (sink.full) return INVALID;
      const present = Object.hasOwn(value, key);
      const field = this.shape[key].run(present ? value[key] : undefined, [...path, key], sink);
      if (field === INVALID) failed = true;
      else if (present || field !== undefined) setField(out, key, field);
    }
    if (this.unknownKeys !== "strip") {
      const extra = Object.keys(value).filter((key) => !Object.hasOwn(this.shape, key));
      if (this.unknownKeys === "loose") {
        for (const key of extra) setField(out, key, value[key]);
      } else if (extra.length > 0) {
        const names = extra.map((key) => JSON.stringify(key)).join(", ");
        sink.add({
          code: "unrecognized_keys",
          path,
          keys: extra,
          message: `Unrecognized key${extra.length > 1 ? "s" : ""}: ${names}`,
        });
        failed = true;
      }
    }
    return failed ? INVALID : out;
  }

  /** The same object without the fields named in `mask`. */
  omit<K extends keyof S & string>(mask: { [P in K]: true }): ObjectSchema<Omit<S, K>, U> {
    const shape: Shape = { ...this.shape };
    for (const key of Object.keys(mask)) delete shape[key];
    return new ObjectSchema(shape as Omit<S, K>, this.unknownKeys);
  }

  /** The same object with more fields (or fields replaced). */
  extend<E extends Shape>(more: E): ObjectSchema<Omit<S, keyof E> & E, U> {
    return new ObjectSchema({ ...this.shape, ...more } as Omit<S, keyof E> & E, this.unknownKeys);
  }

  protected typeJson(io: Io): Json {
    const properties: Json = {};
    const required: string[] = [];
    for (const [key, field] of Object.entries(this.shape)) {
      setField(properties, key, field.jsonSchema(io));
      if (!(io === "input" ? field.optionalIn : field.optionalOut)) required.push(key);
    }
    const json: Json = { type: "object", properties };
    if (required.length > 0) json.required = required;
    // A plain object drops unknown fields: its input may carry them, its output never does.
    if (this.unknownKeys === "strict" || (this.unknownKeys === "strip" && io === "output")) {
      json.additionalProperties = false;
    } else if (this.unknownKeys === "loose") {
      json.additionalProperties = {};
    }
    return json;
  }
}

/** An object used as a map: every key and every value checked. */
export class RecordSchema<K extends Schema<string, string>, V extends AnySchema>
  extends Schema<Record<K["_output"], V["_output"]>, Record<K["_input"], V["_input"]>> {
  constructor(readonly keys: K, readonly values: V) {
    super();
  }

  protected typeJson(io: Io): Json {
    return {
      type: "object",
      propertyNames: this.keys.jsonSchema(io),
      additionalProperties: this.values.jsonSchema(io),
    };
  }

  protected checkType(value: unknown, path: PathKey[], sink: IssueSink): unknown {
    if (!isObject(value, "record", path, sink)) return INVALID;
    const out: Record<string, unknown> = {};
    let failed = false;
    for (const [key, item] of Object.entries(value)) {
      const at = [...path, key];
      const name = this.keys.run(key, at, sink);
      const field = this.values.run(item, at, sink);
      if (name === INVALID || field === INVALID) failed = true;
      else setField(out, name as string, field);
      if (sink.full) break;
    }
    return failed ? INVALID : out;
  }
}

/** The first option that accepts the value. */
export class UnionSchema<T extends readonly AnySchema[]>
  extends Schema<T[number]["_output"], T[number]["_input"]> {
  constructor(readonly options: T) {
    super();
  }

  protected checkType(value: unknown, path: PathKey[], sink: IssueSink): unknown {
    const failures: Issue[][] = [];
    for (const option of this.options) {
      const trial = new IssueSink();
      const out = option.run(value, path, trial);
      if (out !== INVALID) return out;
      failures.push(trial.issues);
    }
    // Only one option got past its type check: its issues say what is wrong.
    const typeOnly = (issues: Issue[]) =>
      issues.length === 1 && issues[0].code === "invalid_type" && issues[0].path === path;
    const partial = failures.filter((issues) => !typeOnly(issues));
    if (partial.length === 1) {
      for (const issue of partial[0]) sink.add(issue);
      return INVALID;
    }
    const expected = this.options.map((option) => option.jsonSchema("input").type);
    const message = partial.length === 0 && expected.every((type) => typeof type === "string")
      ? typeMessage(expected.join(" or "), value)
      : "Invalid input";
    sink.add({ code: "invalid_union", path, message });
    return INVALID;
  }

  protected typeJson(io: Io): Json {
    return anyOf(this.options.map((option) => option.jsonSchema(io)));
  }
}
