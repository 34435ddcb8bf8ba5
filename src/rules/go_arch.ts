// The platform as the Packetriot API names it.

/** The `config` answer's `arch`, in the Go names the spec's example uses. */
export function goArch(arch: string = Deno.build.arch): string {
  return arch === "x86_64" ? "amd64" : arch === "aarch64" ? "arm64" : arch;
}
