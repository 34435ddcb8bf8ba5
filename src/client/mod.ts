// A typed client of burrow's local API (`deno.json` exports it as "./client"): BurrowClient
// with one method per route of both families, the answer types, and BurrowApiError.

export { BurrowClient, type BurrowClientOptions } from "./burrow_client.ts";
export { BurrowApiError } from "./client_errors.ts";
export type * from "./client_types.ts";
