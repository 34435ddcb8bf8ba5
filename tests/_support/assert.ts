// Small assertions for tests (@std/assert lives on JSR, which is not reachable here).
import { deepStrictEqual } from "node:assert";

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  try {
    deepStrictEqual(actual, expected);
  } catch {
    throw new AssertionError(
      `${message ? message + ": " : ""}expected ${show(expected)}, received ${show(actual)}`,
    );
  }
}

export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  let equal = true;
  try {
    deepStrictEqual(actual, expected);
  } catch {
    equal = false;
  }
  if (equal) {
    throw new AssertionError(
      `${message ? message + ": " : ""}expected a value other than ${show(expected)}`,
    );
  }
}

export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  if (!pattern.test(actual)) {
    throw new AssertionError(
      `${message ? message + ": " : ""}${show(actual)} does not match ${pattern}`,
    );
  }
}

export function assertStringIncludes(actual: string, expected: string, message?: string): void {
  if (!actual.includes(expected)) {
    throw new AssertionError(
      `${message ? message + ": " : ""}${show(actual)} does not include ${show(expected)}`,
    );
  }
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = new (...args: any[]) => E;

export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  errorClass?: ErrorClass<E>,
  includes?: string,
): E {
  try {
    fn();
  } catch (error) {
    checkError(error, errorClass, includes);
    return error as E;
  }
  throw new AssertionError("expected the function to throw");
}

export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  errorClass?: ErrorClass<E>,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    checkError(error, errorClass, includes);
    return error as E;
  }
  throw new AssertionError("expected the promise to reject");
}

function checkError(error: unknown, errorClass?: ErrorClass<Error>, includes?: string): void {
  if (errorClass && !(error instanceof errorClass)) {
    throw new AssertionError(`expected ${errorClass.name}, received ${show(error)}`);
  }
  if (includes && !(error instanceof Error && error.message.includes(includes))) {
    throw new AssertionError(
      `expected an error message including ${show(includes)}, received ${show(error)}`,
    );
  }
}

function show(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array[${Array.from(value).join(",")}]`;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
