// A site's `webRoot`: maps a request path to a file strictly inside the root (no `..`, no
// encoded escapes, no symlink leading out), picks index files and content types, and answers
// single byte ranges. Path resolution is separate from I/O so it is tested alone.

/** Files tried, in order, when a directory is requested. */
export const INDEX_FILES = ["index.html", "index.htm"];

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  map: "application/json",
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  xml: "application/xml",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  ico: "image/x-icon",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  otf: "font/otf",
  wasm: "application/wasm",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  mp4: "video/mp4",
  webm: "video/webm",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  wav: "audio/wav",
};

/** The content type for a file name; unknown extensions are plain bytes. */
export function contentTypeOf(name: string): string {
  const dot = name.lastIndexOf(".");
  if (dot < 0 || dot < name.lastIndexOf("/")) return "application/octet-stream";
  return CONTENT_TYPES[name.slice(dot + 1).toLowerCase()] ?? "application/octet-stream";
}

/**
 * Turns a request target into path segments below the root.
 *
 * @returns the decoded segments (empty for the root) and whether the path ended with `/`, or
 *   null when the path is refused: not absolute, undecodable, NUL or backslash inside, or any
 *   `.`/`..` segment before or after decoding
 */
export function requestSegments(target: string): { segments: string[]; slash: boolean } | null {
  const query = target.search(/[?#]/);
  const path = query < 0 ? target : target.slice(0, query);
  if (!path.startsWith("/")) return null;
  const segments: string[] = [];
  const raw = path.split("/").slice(1);
  for (let i = 0; i < raw.length; i++) {
    const part = raw[i];
    if (part === "") {
      if (i === raw.length - 1) break;
      continue;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(part);
    } catch {
      return null;
    }
    if (
      decoded === "." || decoded === ".." || decoded.includes("/") || decoded.includes("\\") ||
      decoded.includes("\0")
    ) {
      return null;
    }
    segments.push(decoded);
  }
  return { segments, slash: path.endsWith("/") };
}

/** Parsed `Range` header against a file size. */
export type RangeAnswer =
  | { kind: "whole" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

/**
 * Reads a single `bytes=` range (RFC 9110 section 14.1.2). Multiple ranges and unknown units
 * are answered with the whole file, which the RFC allows.
 */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: "whole" };
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return { kind: "whole" };
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end };
}

/** What to send for a request under a root. */
export type StaticLookup =
  | { kind: "file"; path: string; size: number; mtime: Date | null }
  | { kind: "redirect"; location: string }
  | { kind: "not-found" }
  | { kind: "forbidden" };

/**
 * Finds the file for `target` under `root`. The real path (symlinks resolved) must stay inside
 * the real root, so a symlink pointing out is refused like `..`.
 */
export async function lookupStatic(root: string, target: string): Promise<StaticLookup> {
  const parsed = requestSegments(target);
  if (!parsed) return { kind: "forbidden" };
  let realRoot: string;
  try {
    realRoot = await Deno.realPath(root);
  } catch {
    return { kind: "not-found" };
  }
  const candidate = [realRoot, ...parsed.segments].join("/");
  const inside = async (path: string): Promise<{ real: string; info: Deno.FileInfo } | null> => {
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch {
      return null;
    }
    if (real !== realRoot && !real.startsWith(realRoot.endsWith("/") ? realRoot : realRoot + "/")) {
      return null;
    }
    try {
      return { real, info: await Deno.stat(real) };
    } catch {
      return null;
    }
  };
  const found = await inside(candidate);
  if (!found) return { kind: "not-found" };
  const info = found.info;
  if (info.isFile) {
    return { kind: "file", path: found.real, size: info.size, mtime: info.mtime };
  }
  if (!info.isDirectory) return { kind: "not-found" };
  if (!parsed.slash && parsed.segments.length > 0) {
    const query = target.search(/[?#]/);
    const path = query < 0 ? target : target.slice(0, query);
    return { kind: "redirect", location: path + "/" + (query < 0 ? "" : target.slice(query)) };
  }
  for (const name of INDEX_FILES) {
    const path = `${candidate}/${name}`;
    const index = await inside(path);
    if (index?.info.isFile) {
      return { kind: "file", path: index.real, size: index.info.size, mtime: index.info.mtime };
    }
  }
  return { kind: "not-found" };
}
