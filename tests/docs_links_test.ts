// Documentation links: every relative link in README.md and docs/ (markdown links with their
// #anchors, and paths under docs/ or tools/ written in backticks) names a file, folder or heading
// inside this repository, so the pages stand alone and a move cannot leave a dead link behind.
//
// Run: .tools/bin/deno test --allow-read tests/docs_links_test.ts
import { posix } from "node:path";
import { assertEquals } from "./_support/assert.ts";
import { REPO_ROOT } from "./_support/burrow.ts";

export interface DocLink {
  line: number;
  target: string;
  /** Markdown links are relative to their page; backticked paths to the repository root. */
  from: "page" | "root";
}

const MARKDOWN_LINK = /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
const REFERENCE_LINK = /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm;
const CODE_PATH = /`((?:docs|tools)\/[\w./-]+)`/g;

/** Blank out fenced code blocks, keeping line numbers: links inside examples are not links. */
function withoutFences(text: string): string {
  let inFence = false;
  return text.split("\n").map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      inFence = !inFence;
      return "";
    }
    return inFence ? "" : line;
  }).join("\n");
}

/** The relative links of one markdown text (external URLs and same-page anchors left out). */
export function relativeLinks(text: string): DocLink[] {
  const body = withoutFences(text);
  const lineAt = (index: number) => body.slice(0, index).split("\n").length;
  const links: DocLink[] = [];
  const prose = body.replace(/`[^`\n]*`/g, (code) => " ".repeat(code.length));
  for (const m of prose.matchAll(MARKDOWN_LINK)) {
    links.push({ line: lineAt(m.index), target: m[1], from: "page" });
  }
  for (const m of prose.matchAll(REFERENCE_LINK)) {
    links.push({ line: lineAt(m.index), target: m[1], from: "page" });
  }
  for (const m of body.matchAll(CODE_PATH)) {
    links.push({ line: lineAt(m.index), target: m[1], from: "root" });
  }
  return links
    .filter(({ target }) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
    .sort((a, b) => a.line - b.line);
}

/** GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to dashes. */
export function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  for (const line of withoutFences(text).split("\n")) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    anchors.add(
      heading[1].toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").trim().replace(/\s/g, "-"),
    );
  }
  return anchors;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function markdownFiles(): Promise<string[]> {
  const files = ["README.md"];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(posix.join(REPO_ROOT, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".md")) files.push(path);
    }
  };
  await walk("docs");
  return files.sort();
}

Deno.test("docs: every relative link in README.md and docs/ resolves inside the repository", async () => {
  const broken: string[] = [];
  for (const file of await markdownFiles()) {
    const text = await Deno.readTextFile(posix.join(REPO_ROOT, file));
    for (const link of relativeLinks(text)) {
      const [path, anchor] = link.target.split("#");
      if (path === "") {
        if (!headingAnchors(text).has(anchor)) {
          broken.push(`${file}:${link.line} "${link.target}": no such heading on this page`);
        }
        continue;
      }
      const resolved = posix.normalize(
        link.from === "root" ? path : posix.join(posix.dirname(file), path),
      );
      if (resolved.startsWith("../") || resolved === "..") {
        broken.push(`${file}:${link.line} "${link.target}" leaves the repository`);
      } else if (!(await exists(posix.join(REPO_ROOT, resolved)))) {
        broken.push(`${file}:${link.line} "${link.target}" -> ${resolved} does not exist`);
      } else if (anchor !== undefined && resolved.endsWith(".md")) {
        const target = await Deno.readTextFile(posix.join(REPO_ROOT, resolved));
        if (!headingAnchors(target).has(anchor)) {
          broken.push(`${file}:${link.line} "${link.target}": ${resolved} has no such heading`);
        }
      }
    }
  }
  assertEquals(broken, []);
});

Deno.test("docs: heading anchors follow GitHub's rule", () => {
  const page =
    "# Top\n## The `POST /connect` route\n### Traffic-rule objects\n```\n# not a heading\n```";
  assertEquals([...headingAnchors(page)], [
    "top",
    "the-post-connect-route",
    "traffic-rule-objects",
  ]);
});

Deno.test("docs: the link reader finds links and skips code and external URLs", () => {
  const text = [
    "See [the API](api.md#olm-routes) and [spec][s].",
    "Not a link: `[x](nowhere.md)`, [web](https://example.com), [here](#top).",
    "```",
    "[in a fence](fence.md)",
    "```",
    'The script `tools/run-local.sh` and [up](../README.md "title").',
    "[s]: ../shared/spec.txt",
  ].join("\n");
  assertEquals(relativeLinks(text), [
    { line: 1, target: "api.md#olm-routes", from: "page" },
    { line: 2, target: "#top", from: "page" },
    { line: 6, target: "../README.md", from: "page" },
    { line: 6, target: "tools/run-local.sh", from: "root" },
    { line: 7, target: "../shared/spec.txt", from: "page" },
  ]);
});
