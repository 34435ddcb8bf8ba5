// burrow's entry point: everything happens in src/cli/main.ts.
import { main } from "./src/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
