// The door of schema/: a small validator for JSON input with TypeScript inference, used as
// `import { z } from "../schema/mod.ts"` (z.string(), z.strictObject({...}), z.infer<...>).
// It replaced the zod package, whose every entry point loads its ~50 locale modules and which
// cost each process about 5 MiB (docs/data-plane.md). A leaf: it imports nothing outside itself.

export * as z from "./builders.ts";
export type { Issue, PathKey } from "./issues.ts";
export { SchemaError } from "./issues.ts";
