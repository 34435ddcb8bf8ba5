// The program's version, read from deno.json so there is one place to bump it.
import denoConfig from "../deno.json" with { type: "json" };

export const VERSION: string = denoConfig.version;
export const AGENT_NAME = "burrow";
