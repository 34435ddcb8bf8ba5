// The scalar schemas: string, number, boolean, a string from a fixed list, and anything.

import {
  boundMessage,
  type IssueSink,
  messageOf,
  type MessageParam,
  type PathKey,
  typeMessage,
} from "./issues.ts";
import { INVALID, type Io, type Json, Schema } from "./schema_base.ts";

/** A value of one JavaScript type; `message` replaces the default text of every issue. */
abstract class PrimitiveSchema<T> extends Schema<T> {
  protected abstract readonly expected: string;
  constructor(message?: string) {
    super();
    this.customMessage = message;
  }

  protected abstract accepts(value: unknown): boolean;

  protected checkType(value: unknown, path: PathKey[], sink: IssueSink): unknown {
    if (this.accepts(value)) return value;
    const message = this.customMessage ?? typeMessage(this.expected, value);
    sink.add({ code: "invalid_type", path, message });
    return INVALID;
  }
}

export class StringSchema extends PrimitiveSchema<string> {
  protected readonly expected = "string";
  protected accepts = (value: unknown) => typeof value === "string";
  minLength?: number;
  maxLength?: number;
  patterns: readonly RegExp[] = [];

  min(length: number, param?: MessageParam): this {
    const message = this.messageFor(param, boundMessage("string", "min", length));
    return this.withCheck((value: string) =>
      value.length >= length ? null : { code: "too_small", message }
    ).with({ minLength: Math.max(length, this.minLength ?? length) });
  }

  max(length: number, param?: MessageParam): this {
    const message = this.messageFor(param, boundMessage("string", "max", length));
    return this.withCheck((value: string) =>
      value.length <= length ? null : { code: "too_big", message }
    ).with({ maxLength: Math.min(length, this.maxLength ?? length) });
  }

  regex(pattern: RegExp, param?: MessageParam): this {
    const message = this.messageFor(param, `Invalid string: must match pattern ${pattern}`);
    return this.withCheck((value: string) => {
      pattern.lastIndex = 0;
      return pattern.test(value) ? null : { code: "invalid_format", message };
    }).with({ patterns: [...this.patterns, pattern] });
  }

  protected typeJson(): Json {
    const json: Json = { type: "string" };
    if (this.minLength !== undefined) json.minLength = this.minLength;
    if (this.maxLength !== undefined) json.maxLength = this.maxLength;
    if (this.patterns.length === 1) json.pattern = this.patterns[0].source;
    if (this.patterns.length > 1) json.allOf = this.patterns.map((p) => ({ pattern: p.source }));
    return json;
  }
}

export class NumberSchema extends PrimitiveSchema<number> {
  protected readonly expected = "number";
  minimum?: number;
  maximum?: number;
  isInt = false;

  protected accepts = (value: unknown) => typeof value === "number" && Number.isFinite(value);

  /** A whole number a double holds exactly (at most 2^53 - 1 either way). */
  int(param?: MessageParam): this {
    const custom = messageOf(param) ?? this.customMessage;
    return this.withCheck((value: number) => {
      if (!Number.isInteger(value)) {
        return { code: "invalid_type", message: custom ?? typeMessage("int", value) };
      }
      if (Number.isSafeInteger(value)) return null;
      const bound = value > 0 ? "max" : "min";
      return {
        code: value > 0 ? "too_big" : "too_small",
        message: custom ?? boundMessage("number", bound, value > 0 ? MAX_SAFE : -MAX_SAFE),
      };
    }).with({ isInt: true });
  }

  min(minimum: number, param?: MessageParam): this {
    const message = this.messageFor(param, boundMessage("number", "min", minimum));
    return this.withCheck((value: number) =>
      value >= minimum ? null : { code: "too_small", message }
    ).with({ minimum: Math.max(minimum, this.minimum ?? minimum) });
  }

  max(maximum: number, param?: MessageParam): this {
    const message = this.messageFor(param, boundMessage("number", "max", maximum));
    return this.withCheck((value: number) => value <= maximum ? null : { code: "too_big", message })
      .with({ maximum: Math.min(maximum, this.maximum ?? maximum) });
  }

  protected typeJson(): Json {
    const json: Json = { type: this.isInt ? "integer" : "number" };
    const minimum = this.isInt ? Math.max(this.minimum ?? -MAX_SAFE, -MAX_SAFE) : this.minimum;
    const maximum = this.isInt ? Math.min(this.maximum ?? MAX_SAFE, MAX_SAFE) : this.maximum;
    if (minimum !== undefined) json.minimum = minimum;
    if (maximum !== undefined) json.maximum = maximum;
    return json;
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export class BooleanSchema extends PrimitiveSchema<boolean> {
  protected readonly expected = "boolean";
  protected accepts = (value: unknown) => typeof value === "boolean";

  protected typeJson(): Json {
    return { type: "boolean" };
  }
}

/** One of a fixed list of strings. */
export class EnumSchema<T extends string> extends Schema<T> {
  constructor(readonly values: readonly T[], message?: string) {
    super();
    this.customMessage = message;
  }

  protected checkType(value: unknown, path: PathKey[], sink: IssueSink): unknown {
    if (this.values.includes(value as T)) return value;
    const expected = this.values.map((v) => JSON.stringify(v)).join("|");
    sink.add({
      code: "invalid_value",
      path,
      message: this.customMessage ?? `Invalid option: expected one of ${expected}`,
    });
    return INVALID;
  }

  protected typeJson(): Json {
    return { type: "string", enum: [...this.values] };
  }
}

/** Any value, unchecked. */
export class UnknownSchema extends Schema<unknown> {
  protected checkType(value: unknown): unknown {
    return value;
  }

  protected typeJson(_io?: Io): Json {
    return {};
  }
}
