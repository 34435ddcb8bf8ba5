// Tests for src/state/atomic.ts: the shared atomic JSON writer of the state directory.
import { assert, assertEquals } from "../_support/assert.ts";
import { readJsonFile, removeFile, writeJsonAtomic } from "../../src/state/atomic.ts";

Deno.test("writeJsonAtomic() creates a 0700 directory and a 0600 file that reads back", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/nested/state`;
    await writeJsonAtomic(`${dir}/identity.json`, { a: 1 });
    assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assertEquals((await Deno.stat(`${dir}/identity.json`)).mode! & 0o777, 0o600);
    assertEquals(await readJsonFile(`${dir}/identity.json`), { a: 1 });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeJsonAtomic() replaces the file whole and leaves no temp file behind", async () => {
  const root = await Deno.makeTempDir();
  try {
    const path = `${root}/s.json`;
    await writeJsonAtomic(path, { v: "old" });
    const before = (await Deno.stat(path)).ino;
    await writeJsonAtomic(path, { v: "new" });
    assertEquals(await readJsonFile(path), { v: "new" });
    assert((await Deno.stat(path)).ino !== before, "a rename gives the file a new inode");
    const names = [];
    for await (const entry of Deno.readDir(root)) names.push(entry.name);
    assertEquals(names, ["s.json"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readJsonFile() answers undefined for a missing file and removeFile() tolerates one", async () => {
  const root = await Deno.makeTempDir();
  try {
    assertEquals(await readJsonFile(`${root}/none.json`), undefined);
    await removeFile(`${root}/none.json`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
