// Atomic state files for the agent's state directory: every write goes to a temp file in the
// same directory, is fsynced and renamed over the target, so a crash leaves the old or the new
// file, never half of one. Files are 0600, the directory 0700: they hold secrets.

export const STATE_FILE_MODE = 0o600;
export const STATE_DIR_MODE = 0o700;

/**
 * Creates `dir` (and its parents) if missing and makes it mode 0700.
 *
 * @param dir the state directory
 */
export async function ensureStateDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: STATE_DIR_MODE });
  await Deno.chmod(dir, STATE_DIR_MODE);
}

/**
 * Writes `data` to `path` atomically: temp file beside it, fsync, rename, then fsync of the
 * directory so the rename itself is durable. The file ends with mode 0600.
 *
 * @param path the target file; its directory is created (0700) when missing
 * @param data the whole new content
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  await ensureStateDir(dir);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const temp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  let renamed = false;
  try {
    const file = await Deno.open(temp, {
      write: true,
      createNew: true,
      mode: STATE_FILE_MODE,
    });
    try {
      // umask may have narrowed the mode; chmod makes it exact.
      await Deno.chmod(temp, STATE_FILE_MODE);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
    renamed = true;
    await syncDir(dir);
  } finally {
    if (!renamed) await removeFile(temp).catch(() => {/* the original error matters more */});
  }
}

/** Writes `value` as pretty JSON with {@linkcode writeFileAtomic}. */
export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Reads a JSON state file.
 *
 * @returns the parsed value, or `undefined` when the file does not exist
 * @throws {SyntaxError} when the file is not JSON
 */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return JSON.parse(text);
}

/** Removes a state file; a missing file is fine. */
export async function removeFile(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    handle.close();
  }
}
