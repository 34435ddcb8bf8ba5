// Architecture test: the folders of src/ and the one-way edges between them
// (docs/architecture.md). The table below is the layout contract of issue #15 as data, in the
// spirit of Go's and Tailscale's deps_test.go: a new edge is a deliberate change to this table,
// reviewed like code, never an accident of one import line.
//
// Rules, each failure names the file, the import and the rule:
//   edge         a folder imports only the folders its row of ALLOWED lists
//   cycle        no cycle between folders (whatever the table says)
//   door         a cross-folder import goes through the target folder's mod.ts (type-only too)
//   unique-name  no two files under src/ share a base name (mod.ts excepted: every folder has one)
//   map          every file lives in a folder of the table (or is a listed root leaf)
//
// Imports are read from the text: static `import`/`export ... from`, side-effect imports,
// dynamic `import("...")` with a string literal, and module URLs such as a Worker's
// `new URL("./engine_worker.ts", import.meta.url)` (any "./x.ts" or "../x.ts" literal).
//
// Run: .tools/bin/deno test --allow-read tests/architecture_test.ts
import { posix } from "node:path";
import { assertEquals } from "./_support/assert.ts";
import { REPO_ROOT } from "./_support/burrow.ts";

// 1. The contract: folder -> the src folders it may import.
const LEAVES = ["errors", "log", "schema"] as const;
/** What every role may build on: the leaves, the wire modules and the device. */
const ROLE_BASE = [...LEAVES, "net", "state", "curve25519", "protocol", "crypto", "tun"] as const;
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  errors: [],
  log: [],
  // The JSON validator (z.string(), z.strictObject(...)) with its JSON Schema.
  schema: [],
  metrics: [],
  // X25519 and the key pairs made with it, shared by the WireGuard core, the sealed endpoint
  // announcements and every role's keys (without loading the core: it runs in the Worker).
  curve25519: [],
  net: [...LEAVES],
  state: [...LEAVES],
  protocol: ["errors", "schema", "net", "curve25519"],
  crypto: ["errors", "net", "curve25519"],
  tun: [...LEAVES, "net", "state", "curve25519", "crypto"],
  session: [...LEAVES, "net", "state", "curve25519", "protocol", "crypto", "tun"],
  rules: [...LEAVES, "net", "state", "protocol"],
  api: [...LEAVES, "net", "protocol"],
  // The client's DNS proxy, and an agent acting as a site (private resources).
  dns: [...LEAVES, "net", "protocol"],
  site: [...LEAVES, "net", "protocol"],
  // The agent's composition root: anything except the hub and the command line.
  agent: [...ROLE_BASE, "session", "rules", "api", "metrics", "dns", "site"],
  hub: [...ROLE_BASE, "metrics"],
  // The typed client of the local API, for scripts and test suites: leaves only.
  client: ["errors", "net", "protocol"],
  // The command line of the three roles: anything.
  cli: [...ROLE_BASE, "session", "rules", "api", "agent", "hub", "metrics"],
};

/** Files directly in src/ that import nothing from src/ and that every folder may import. */
export const ROOT_LEAVES: readonly string[] = ["version.ts"];

/** Files outside src/ that src/ may import: the version is read from the package manifest. */
export const OUTSIDE_SRC: readonly string[] = ["deno.json"];

// 2. Reading imports out of source text.

export type ImportKind = "import" | "type import" | "export from" | "dynamic import" | "module URL";

export interface ImportRef {
  line: number;
  specifier: string;
  kind: ImportKind;
}

const STATIC_IMPORT = /^[ \t]*(import|export)\b([^;'"`()=]*?)\bfrom\s*(["'])([^"'\n]+)\3/gm;
const SIDE_EFFECT_IMPORT = /^[ \t]*import\s*(["'])([^"'\n]+)\1/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*(["'])([^"'\n]+)\1\s*\)/g;
const MODULE_URL = /(["'])(\.\.?\/[^"'\n]*\.(?:ts|tsx|js|mjs))\1/g;

function lineOf(source: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (source.charCodeAt(i) === 10) line++;
  return line;
}

/** True when the text at index sits in a // comment or on a block-comment line. */
function inComment(source: string, index: number): boolean {
  const start = source.lastIndexOf("\n", index - 1) + 1;
  const before = source.slice(start, index);
  const trimmed = before.trimStart();
  return trimmed.startsWith("//") || trimmed.startsWith("*") || trimmed.startsWith("/*") ||
    before.includes("//");
}

/** Every module a source file refers to, in order of appearance. */
export function parseImports(source: string): ImportRef[] {
  const found = new Map<number, ImportRef>(); // by the specifier's index: one entry per literal
  for (const m of source.matchAll(STATIC_IMPORT)) {
    const clause = m[2].trim();
    const kind: ImportKind = m[1] === "export"
      ? "export from"
      : clause.startsWith("type ") || clause.startsWith("type{")
      ? "type import"
      : "import";
    const at = m.index + m[0].lastIndexOf(m[4]);
    found.set(at, { line: lineOf(source, at), specifier: m[4], kind });
  }
  for (const m of source.matchAll(SIDE_EFFECT_IMPORT)) {
    const at = m.index + m[0].lastIndexOf(m[2]);
    found.set(at, { line: lineOf(source, at), specifier: m[2], kind: "import" });
  }
  for (const m of source.matchAll(DYNAMIC_IMPORT)) {
    if (inComment(source, m.index)) continue;
    const at = m.index + m[0].indexOf(m[2]);
    found.set(at, { line: lineOf(source, at), specifier: m[2], kind: "dynamic import" });
  }
  for (const m of source.matchAll(MODULE_URL)) {
    const at = m.index + 1;
    if (found.has(at) || inComment(source, m.index)) continue;
    found.set(at, { line: lineOf(source, at), specifier: m[2], kind: "module URL" });
  }
  return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, ref]) => ref);
}

// 3. Checking the graph.

export type Rule = "edge" | "cycle" | "door" | "unique-name" | "map";

export interface Violation {
  rule: Rule;
  file: string;
  line: number;
  specifier: string;
  message: string;
}

/** One source file: its path relative to the repository ("src/hub/hub.ts") and its imports. */
export interface SourceFile {
  path: string;
  imports: ImportRef[];
}

interface Edge {
  from: string;
  to: string;
  file: string;
  ref: ImportRef;
}

/** "src/hub/hub.ts" -> "hub"; "src/version.ts" -> "" (the src root); null outside src/. */
function folderOf(path: string): string | null {
  const parts = path.split("/");
  if (parts[0] !== "src") return null;
  return parts.length === 2 ? "" : parts[1];
}

function describe(file: string, ref: ImportRef): string {
  return `${file}:${ref.line} ${ref.kind} "${ref.specifier}"`;
}

function list(folders: readonly string[]): string {
  return folders.length === 0 ? "nothing" : folders.join(", ");
}

/** Every violation of the rules above; an empty list means the layout holds. */
export function checkLayout(
  files: readonly SourceFile[],
  allowed: Readonly<Record<string, readonly string[]>> = ALLOWED,
  rootLeaves: readonly string[] = ROOT_LEAVES,
): Violation[] {
  const violations: Violation[] = [];
  const edges: Edge[] = [];
  const report = (rule: Rule, file: string, ref: ImportRef | null, message: string) =>
    violations.push({
      rule,
      file,
      line: ref?.line ?? 0,
      specifier: ref?.specifier ?? "",
      message: `[${rule}] ${ref ? describe(file, ref) : file}: ${message}`,
    });

  for (const file of files) {
    const from = folderOf(file.path);
    if (from === null) continue;
    const base = posix.basename(file.path);
    if (from === "" && !rootLeaves.includes(base)) {
      report("map", file.path, null, "a file directly in src/ must live in a folder of the map");
    } else if (from !== "" && !(from in allowed)) {
      report("map", file.path, null, `folder "${from}" is not in the map`);
    }
    for (const ref of file.imports) {
      if (!ref.specifier.startsWith("./") && !ref.specifier.startsWith("../")) continue;
      const target = posix.normalize(posix.join(posix.dirname(file.path), ref.specifier));
      const to = folderOf(target);
      if (to === null) {
        if (OUTSIDE_SRC.includes(target)) continue;
        report("edge", file.path, ref, `src/ imports only files under src/ (got ${target})`);
        continue;
      }
      if (from === "") {
        report("edge", file.path, ref, "a root leaf of src/ imports nothing from src/");
        continue;
      }
      if (to === from) continue;
      if (to === "") {
        if (!rootLeaves.includes(posix.basename(target))) {
          report("map", file.path, ref, `${target} is not in a folder of the map`);
        }
        continue;
      }
      edges.push({ from, to, file: file.path, ref });
      const mayImport = allowed[from];
      if (mayImport && !mayImport.includes(to)) {
        report(
          "edge",
          file.path,
          ref,
          `${from} may not import ${to} (${from} may import: ${list(mayImport)})`,
        );
      }
      if (target !== `src/${to}/mod.ts`) {
        report(
          "door",
          file.path,
          ref,
          `a cross-folder import goes through src/${to}/mod.ts, not ${target}`,
        );
      }
    }
  }

  for (const cycle of folderCycles(edges)) {
    const steps = cycle.map((edge) =>
      `${edge.from} -> ${edge.to} (${describe(edge.file, edge.ref)})`
    );
    const first = cycle[0];
    report(
      "cycle",
      first.file,
      first.ref,
      `folders import each other in a cycle: ${
        cycle.map((e) => e.from).join(" -> ")
      } -> ${first.from}; ` +
        steps.join("; "),
    );
  }

  const byName = new Map<string, string[]>();
  for (const file of files) {
    if (folderOf(file.path) === null) continue;
    const base = posix.basename(file.path);
    if (base === "mod.ts") continue;
    byName.set(base, [...(byName.get(base) ?? []), file.path]);
  }
  for (const [base, paths] of byName) {
    if (paths.length < 2) continue;
    const [first, ...others] = paths.sort();
    report("unique-name", first, null, `the name ${base} is also used by ${others.join(", ")}`);
  }
  return violations;
}

/**
 * One cycle per strongly connected component of the folder graph (Tarjan), as the edges that
 * close it, starting from the component's alphabetically first folder.
 */
function folderCycles(edges: readonly Edge[]): Edge[][] {
  const out = new Map<string, Edge[]>();
  for (const edge of edges) out.set(edge.from, [...(out.get(edge.from) ?? []), edge]);
  const nodes = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let next = 0;
  const visit = (node: string) => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const edge of out.get(node) ?? []) {
      if (!index.has(edge.to)) {
        visit(edge.to);
        low.set(node, Math.min(low.get(node)!, low.get(edge.to)!));
      } else if (onStack.has(edge.to)) {
        low.set(node, Math.min(low.get(node)!, index.get(edge.to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const node of nodes) if (!index.has(node)) visit(node);

  // A shortest path back to the start inside the component (breadth first).
  return components.map((component) => {
    const start = component[0];
    const inside = new Set(component);
    const via = new Map<string, Edge>();
    const queue = [start];
    while (queue.length > 0) {
      const node = queue.shift()!;
      for (const edge of out.get(node) ?? []) {
        if (!inside.has(edge.to)) continue;
        if (edge.to === start) {
          const path = [edge];
          for (let at = node; at !== start; at = via.get(at)!.from) path.unshift(via.get(at)!);
          return path;
        }
        if (!via.has(edge.to)) {
          via.set(edge.to, edge);
          queue.push(edge.to);
        }
      }
    }
    throw new Error(`no cycle through ${start}`); // unreachable: a component of >1 has one
  });
}

// 4. Reading src/ from disk.

async function readSources(dir: string, out: SourceFile[] = []): Promise<SourceFile[]> {
  const entries = [];
  for await (const entry of Deno.readDir(posix.join(REPO_ROOT, dir))) entries.push(entry);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) await readSources(path, out);
    else if (/\.(ts|tsx|js|mjs)$/.test(entry.name)) {
      const source = await Deno.readTextFile(posix.join(REPO_ROOT, path));
      out.push({ path, imports: parseImports(source) });
    }
  }
  return out;
}

function formatViolations(violations: readonly Violation[]): string {
  const rules: Rule[] = ["edge", "cycle", "door", "unique-name", "map"];
  const counts = rules.map((rule) =>
    `${rule}: ${violations.filter((v) => v.rule === rule).length}`
  );
  return [
    `${violations.length} architecture violations in src/ (rules and table: ` +
    `tests/architecture_test.ts, docs/architecture.md) — ${counts.join(", ")}`,
    ...rules.flatMap((rule) =>
      violations.filter((v) => v.rule === rule).map((v) => "  " + v.message)
    ),
  ].join("\n");
}

// 5. The tests.

Deno.test("architecture: src/ follows the folder map and its one-way edges", async () => {
  const violations = checkLayout(await readSources("src"));
  if (violations.length > 0) throw new Error(formatViolations(violations));
});

Deno.test("architecture: the table itself is a one-way graph of known folders", () => {
  for (const [folder, targets] of Object.entries(ALLOWED)) {
    for (const to of targets) {
      assertEquals(to in ALLOWED && to !== folder, true, `${folder} -> ${to}`);
    }
  }
  // Every allowed edge, taken as an import, must not form a cycle.
  const files: SourceFile[] = Object.entries(ALLOWED).map(([folder, targets]) => ({
    path: `src/${folder}/edges.ts`,
    imports: targets.map((to, i) => ({
      line: i + 1,
      specifier: `../${to}/mod.ts`,
      kind: "import",
    })),
  }));
  assertEquals(checkLayout(files).filter((v) => v.rule !== "unique-name"), []);
});

Deno.test("architecture: the import reader finds every form and skips comments", () => {
  const source = [
    `// import { old } from "../hub/old.ts";`,
    `/**`,
    ` * import { example } from "../hub/example.ts";`,
    ` * const m = await import("../hub/lazy_doc.ts");`,
    ` */`,
    `import {`,
    `  a,`,
    `  b,`,
    `} from "../net/mod.ts";`,
    `import type { T } from "../protocol/mod.ts";`,
    `import { type U, v } from '../crypto/mod.ts';`,
    `export { w } from "./local.ts";`,
    `export * as ns from "../state/mod.ts";`,
    `import "./side_effect.ts";`,
    `import { z } from "zod";`,
    `const bytes = Array.from("abc");`,
    `const lazy = await import("../log/mod.ts");`,
    `const worker = new Worker(new URL("./engine_worker.ts", import.meta.url));`,
    `start("./reader_worker.ts");`,
  ].join("\n");
  assertEquals(parseImports(source), [
    { line: 9, specifier: "../net/mod.ts", kind: "import" },
    { line: 10, specifier: "../protocol/mod.ts", kind: "type import" },
    { line: 11, specifier: "../crypto/mod.ts", kind: "import" },
    { line: 12, specifier: "./local.ts", kind: "export from" },
    { line: 13, specifier: "../state/mod.ts", kind: "export from" },
    { line: 14, specifier: "./side_effect.ts", kind: "import" },
    { line: 15, specifier: "zod", kind: "import" },
    { line: 17, specifier: "../log/mod.ts", kind: "dynamic import" },
    { line: 18, specifier: "./engine_worker.ts", kind: "module URL" },
    { line: 19, specifier: "./reader_worker.ts", kind: "module URL" },
  ]);
});

Deno.test("architecture: the checker reports each broken rule on a synthetic tree", () => {
  const file = (path: string, ...specifiers: string[]): SourceFile => ({
    path,
    imports: specifiers.map((specifier, i) => ({ line: i + 1, specifier, kind: "import" })),
  });
  const violations = checkLayout([
    // Allowed and through the door: no violation.
    file("src/api/mod.ts", "../errors/mod.ts", "../protocol/mod.ts", "npm:zod", "../version.ts"),
    // hub -> rules is forbidden.
    file("src/hub/ingress.ts", "../rules/mod.ts"),
    // session -> tun is allowed but skips tun's mod.ts; tun -> session is forbidden and closes a cycle.
    file("src/session/client.ts", "../tun/device.ts"),
    file("src/tun/device.ts", "../session/mod.ts"),
    // The same base name in two folders.
    file("src/rules/client.ts"),
    // A folder that is not in the map, and a loose file in src/.
    file("src/widgets/thing.ts"),
    file("src/helpers.ts"),
  ]);
  const seen = violations.map((v) => `${v.rule} ${v.file} ${v.specifier}`).sort();
  assertEquals(seen, [
    "cycle src/session/client.ts ../tun/device.ts",
    "door src/session/client.ts ../tun/device.ts",
    "edge src/hub/ingress.ts ../rules/mod.ts",
    "edge src/tun/device.ts ../session/mod.ts",
    "map src/helpers.ts ",
    "map src/widgets/thing.ts ",
    "unique-name src/rules/client.ts ",
  ]);
  const edge = violations.find((v) => v.rule === "edge" && v.file === "src/hub/ingress.ts")!;
  assertEquals(
    edge.message,
    `[edge] src/hub/ingress.ts:1 import "../rules/mod.ts": hub may not import rules ` +
      `(hub may import: errors, log, schema, net, state, curve25519, protocol, crypto, tun, metrics)`,
  );
  const cycle = violations.find((v) => v.rule === "cycle")!;
  assertEquals(cycle.message.includes("session -> tun -> session"), true, cycle.message);
});
