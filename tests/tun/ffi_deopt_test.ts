// The device's per-packet FFI calls stay optimized. A number passed where a symbol declares
// size_t makes V8 deoptimize the calling function ("not a BigInt") each time it was optimized,
// without end: the engine Worker once ran its hot loop deoptimized most of the time and kept
// V8's helper threads busy recompiling it (docs/data-plane.md, "Sizes as bigints"). The hot
// loop runs in a child Deno under --trace-deopt; the control passes numbers, as the device
// did, to show that the trace catches it.

import { assert } from "../_support/assert.ts";

const LOOP = new URL("./_ffi_hot_loop.ts", import.meta.url).pathname;

async function deopts(mode: string): Promise<{ out: string; notBigInt: number }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--v8-flags=--trace-deopt", LOOP, mode],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert(output.code === 0, `the hot loop failed: ${out.slice(-2000)}`);
  return { out, notBigInt: out.split("not a BigInt").length - 1 };
}

Deno.test("per-packet FFI calls (sodium, UDP, poll, wake fd) never deoptimize on a size_t", async () => {
  const control = await deopts("control");
  if (control.out.includes("NO-SODIUM")) {
    console.log("skipped: libsodium is not installed (make test-deps installs it)");
    return;
  }
  if (control.notBigInt === 0) {
    console.log("skipped: this Deno does not deoptimize on a number passed as size_t");
    return;
  }
  const device = await deopts("device");
  assert(device.out.includes("DONE true"), `the loop did not run: ${device.out.slice(-500)}`);
  assert(
    device.notBigInt === 0,
    `${device.notBigInt} "not a BigInt" deoptimizations (control: ${control.notBigInt})`,
  );
});
