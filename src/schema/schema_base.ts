// The base of every schema and the wrappers any schema can take: optional, nullish, default,
// transform. A schema is immutable: each method returns a new schema, so a shared one (a port,
// a host name) can be refined in one place without changing it elsewhere. The TypeScript types
// of the input and the output ride along as phantom fields, for `z.infer` and `z.output`.

import {
  type Issue,
  type IssueCode,
  IssueSink,
  messageOf,
  type MessageParam,
  type PathKey,
  SchemaError,
} from "./issues.ts";

/** Returned by a check in place of a value when the value is refused (issues were added). */
export const INVALID: unique symbol = Symbol("invalid");
export type Invalid = typeof INVALID;

/** A JSON Schema (2020-12) object. */
export type Json = Record<string, unknown>;
/** Whether a JSON Schema describes what a schema accepts or what it returns. */
export type Io = "input" | "output";

/** A bound or a pattern of a typed value: null when it holds, else the issue to report. */
export type Check = (value: never) => { code: IssueCode; message: string } | null;

interface Refinement {
  test: (value: never) => unknown;
  message: string;
}

export type SafeParseResult<T> = { success: true; data: T } | {
  success: false;
  error: SchemaError;
};

// deno-lint-ignore no-explicit-any
export type AnySchema = Schema<any, any>;
/** What a schema returns. */
export type Output<S extends AnySchema> = S["_output"];
/** What a schema accepts. */
export type Input<S extends AnySchema> = S["_input"];

export abstract class Schema<Out = unknown, In = Out> {
  declare readonly _output: Out;
  declare readonly _input: In;
  /** Shown as `description` in the JSON Schema. */
  description?: string;
  /** The schema's own message (`z.number({ message })`): for every issue it raises itself. */
  customMessage?: string;
  /** Whether an object may leave this field out (input) and may lack it (output). */
  optionalIn = false;
  optionalOut = false;
  protected checks: readonly Check[] = [];
  protected refinements: readonly Refinement[] = [];

  /** Checks the type (and the children) of `value`: its typed form, or INVALID. */
  protected abstract checkType(value: unknown, path: PathKey[], sink: IssueSink): unknown;
  /** The JSON Schema of this type, without the description. */
  protected abstract typeJson(io: Io): Json;

  /** Validates `value` at `path`, adding issues to `sink`: the output, or INVALID. */
  run(value: unknown, path: PathKey[], sink: IssueSink): unknown {
    if (sink.full) return INVALID;
    const typed = this.checkType(value, path, sink);
    if (typed === INVALID) return INVALID;
    for (const check of this.checks) {
      const problem = check(typed as never);
      if (problem) {
        sink.add({ ...problem, path });
        return INVALID;
      }
    }
    // Refinements see only values that passed every other check.
    for (const refinement of this.refinements) {
      if (!refinement.test(typed as never)) {
        sink.add({ code: "custom", path, message: refinement.message });
        return INVALID;
      }
    }
    return typed;
  }

  safeParse(value: unknown): SafeParseResult<Out> {
    const sink = new IssueSink();
    const out = this.run(value, [], sink);
    if (out === INVALID) return { success: false, error: new SchemaError(sink.issues) };
    return { success: true, data: out as Out };
  }

  /** @throws {SchemaError} naming every issue found */
  parse(value: unknown): Out {
    const result = this.safeParse(value);
    if (!result.success) throw result.error;
    return result.data;
  }

  jsonSchema(io: Io): Json {
    const json = this.typeJson(io);
    if (this.description !== undefined) json.description = this.description;
    return json;
  }

  /** A copy with some fields replaced (schemas never change once built). */
  protected with(patch: Record<string, unknown>): this {
    return Object.assign(Object.create(Object.getPrototypeOf(this)), this, patch);
  }

  /** A check's message: its own, else the schema's own, else the standard text. */
  protected messageFor(param: MessageParam | undefined, standard: string): string {
    return messageOf(param) ?? this.customMessage ?? standard;
  }

  protected withCheck(check: Check): this {
    return this.with({ checks: [...this.checks, check] });
  }

  /** Refuses values `test` does not accept (message "Invalid input" unless given). */
  refine(test: (value: Out) => unknown, param?: MessageParam): this {
    const refinement = { test, message: this.messageFor(param, "Invalid input") } as Refinement;
    return this.with({ refinements: [...this.refinements, refinement] });
  }

  describe(description: string): this {
    return this.with({ description });
  }

  /** Also accepts `undefined` (an object may leave the field out). */
  optional(): OptionalSchema<this, Out | undefined, In | undefined> {
    return new OptionalSchema(this, false);
  }

  /** Also accepts `null` and `undefined`. */
  nullish(): OptionalSchema<this, Out | null | undefined, In | null | undefined> {
    return new OptionalSchema(this, true);
  }

  /** `value` when the input is `undefined` (or the field is absent). */
  default(value: Exclude<Out, undefined>): DefaultSchema<this, Exclude<Out, undefined>, In> {
    return new DefaultSchema(this, value);
  }

  /** Maps the validated value; the JSON Schema of the output is then unknown (`{}`). */
  transform<Next>(map: (value: Out) => Next): TransformSchema<this, Next, In> {
    return new TransformSchema(this, map as (value: unknown) => Next);
  }
}

/** `undefined` (and with `nullable`, `null`) or a value of the inner schema. */
export class OptionalSchema<S extends AnySchema, Out, In> extends Schema<Out, In> {
  override optionalIn = true;
  override optionalOut = true;
  constructor(readonly inner: S, readonly nullable: boolean) {
    super();
  }

  protected checkType(value: unknown, path: PathKey[], sink: IssueSink): unknown {
    if (value === undefined || (this.nullable && value === null)) return value;
    return this.inner.run(value, path, sink);
  }

  protected typeJson(io: Io): Json {
    const inner = this.inner.jsonSchema(io);
    return this.nullable ? anyOf([inner, { type: "null" }]) : inner;
  }
}

/** The inner schema, with a value standing in for `undefined`. */
export class DefaultSchema<S extends AnySchema, Out, In> extends Schema<Out, In | undefined> {
  override optionalIn = true;
  constructor(readonly inner: S, readonly value: Out) {
    super();
  }

  protected checkType(value: unknown, path: PathKey[], sink: IssueSink): unknown {
    return value === undefined ? this.value : this.inner.run(value, path, sink);
  }

  protected typeJson(io: Io): Json {
    return { ...this.inner.jsonSchema(io), default: JSON.parse(JSON.stringify(this.value)) };
  }
}

/** The inner schema's value, mapped. */
export class TransformSchema<S extends AnySchema, Out, In> extends Schema<Out, In> {
  constructor(readonly inner: S, readonly map: (value: unknown) => Out) {
    super();
    // An absent field reaches the map when the inner schema takes it (`nullish().transform`).
    this.optionalIn = inner.optionalIn;
  }

  protected checkType(value: unknown, path: PathKey[], sink: IssueSink): unknown {
    const inner = this.inner.run(value, path, sink);
    return inner === INVALID ? INVALID : this.map(inner);
  }

  protected typeJson(io: Io): Json {
    // What a function returns has no JSON Schema; what it takes is the inner schema's input.
    return io === "input" ? this.inner.jsonSchema(io) : {};
  }
}

/**
 * `anyOf` of the branches, written `type: [...]` when every branch is a bare type
 * (`{type: "boolean"}`, `{type: "null"}`): the same meaning, and what readers render best.
 */
export function anyOf(branches: Json[]): Json {
  const types: unknown[] = [];
  for (const branch of branches) {
    const keys = Object.keys(branch);
    if (keys.length !== 1 || keys[0] !== "type") return { anyOf: branches };
    for (const type of [branch.type].flat()) if (!types.includes(type)) types.push(type);
  }
  return { type: types.length === 1 ? types[0] : types };
}

export type { Issue };
