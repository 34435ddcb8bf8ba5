// What a process loads at start is what it keeps resident (docs/data-plane.md, "Memory"): the
// static import graphs of the engine Worker, and of the modules every role loads, stay free of
// packages measured to cost megabytes that the role does not use. Dynamic imports (loaded on
// first use) and type-only imports are not followed.
//
// Run: .tools/bin/deno test --allow-read tests/cli/module_graph_test.ts

import { assertEquals } from "../_support/assert.ts";
import { REPO_ROOT } from "../_support/burrow.ts";

const STATIC_IMPORT = /^[ \t]*(?:import|export)\b([^;'"`()=]*?)\bfrom\s*(["'])([^"'\n]+)\2/gm;
const SIDE_EFFECT_IMPORT = /^[ \t]*import\s*(["'])([^"'\n]+)\1/gm;

/** Every module `entry` (relative to the repository) loads before running, packages included. */
function staticGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [new URL(entry, `file://${REPO_ROOT}`).href];
  while (pending.length > 0) {
    const url = pending.pop()!;
    if (seen.has(url)) continue;
    seen.add(url);
    if (!url.startsWith("file:")) continue;
    const source = Deno.readTextFileSync(new URL(url));
    const specifiers = [
      ...[...source.matchAll(STATIC_IMPORT)]
        .filter((m) =>
          !/^type\b/.test(m[1].trim()) && !/^\{(\s*type\s+\w+\s*,?)*\s*\}$/.test(m[1].trim())
        )
        .map((m) => m[3]),
      ...[...source.matchAll(SIDE_EFFECT_IMPORT)].map((m) => m[2]),
    ];
    for (const specifier of specifiers) {
      pending.push(specifier.startsWith(".") ? new URL(specifier, url).href : specifier);
    }
  }
  return seen;
}

function loaded(entry: string, packages: string[]): string[] {
  const graph = staticGraph(entry);
  return packages.filter((name) => graph.has(name));
}

Deno.test("module graph: X25519 comes without noble's Edwards curve (about 2.5 MiB per isolate)", () => {
  for (const entry of ["src/tun/engine_worker.ts", "src/crypto/mod.ts", "src/protocol/mod.ts"]) {
    assertEquals(loaded(entry, ["@noble/curves/ed25519.js"]), [], entry);
  }
});
