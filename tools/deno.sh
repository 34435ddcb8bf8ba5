# Sourced by ./burrow and the Makefile: the one place that pins Deno and names
# the permissions burrow runs with.
# shellcheck shell=bash

BURROW_DENO_VERSION=2.9.6
BURROW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BURROW_TOOLS="$BURROW_ROOT/.tools"
BURROW_DENO="$BURROW_TOOLS/bin/deno"

# Everything the program touches: TUN through FFI, sockets, `ip` and `wg`
# for interface setup, its state directory, environment flags, hostname/os.
# V8's young generation capped at 4 MiB semi-spaces, in every isolate (V8's default is 16 MiB:
# about 12 MiB more resident per idle process). 1 MiB held idle processes smallest but made the
# agent's HTTP engine scavenge about 18 times per 1,000 requests (docs/data-plane.md, "Young
# generation"). --expose-gc: an idle engine Worker collects its grown heap once
# (src/tun/idle_heap.ts), since V8 gives the young generation back only in a collection.
# The old generation grows by half its live size between full collections instead of V8's
# dynamic factor (up to 4x on a small heap): under 1,000 concurrent requests the agent's peak
# went from about 195 to 144 MiB (tests/rules/http_bench.ts; docs/data-plane.md, "Relays").
# --no-code-cache: Deno's V8 code cache is a SQLite file mapped into the process and
# deserialized eagerly; without it an idle agent holds about 4.5 MiB less (medians of alternating
# runs of tests/tun/idle_rss_bench.ts) and starts about 25 ms later; throughput_bench.ts showed
# no change beyond its noise (docs/data-plane.md, "Memory").
# V8's memory reducer starts 5 s after a full collection instead of 30 s, for up to 4 collections:
# a process that went quiet after its start gives its start-up garbage back while still quiet
# (about 2.5 MiB of an idle agent). It runs only when V8 sees a low allocation rate and is
# re-armed only by another full collection, which an allocation-free data path does not cause.
# --no-short-builtin-calls: V8 otherwise maps a copy of its builtins next to each isolate's code
# (one more 2 MiB mapping of the executable per Worker), and does so only on hosts with at least
# 4 GB of memory: the routers burrow is meant for run without it anyway.
BURROW_FLAGS=(--allow-read --allow-write --allow-net --allow-env --allow-ffi --allow-run --allow-sys --unstable-net --no-code-cache --v8-flags=--max-semi-space-size=4,--expose-gc,--heap-growing-percent=50,--gc-memory-reducer-start-delay-ms=5000,--memory-reducer-gc-count=4,--no-short-builtin-calls)

# Installs the pinned Deno from the npm registry into .tools/ when missing.
burrow_ensure_deno() {
  if [ -x "$BURROW_DENO" ] && "$BURROW_DENO" --version 2>/dev/null | grep -q "^deno $BURROW_DENO_VERSION "; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { echo "burrow: npm is needed to install Deno $BURROW_DENO_VERSION" >&2; return 1; }
  echo "burrow: installing Deno $BURROW_DENO_VERSION into .tools/ (npm registry)" >&2
  mkdir -p "$BURROW_TOOLS/bin"
  npm install --silent --no-save --no-audit --no-fund --prefix "$BURROW_TOOLS/npm" "deno@$BURROW_DENO_VERSION" >&2 || return 1
  local found
  found=$(find "$BURROW_TOOLS/npm/node_modules/@deno" -maxdepth 2 -type f -name deno 2>/dev/null | head -n 1)
  [ -n "$found" ] || found="$BURROW_TOOLS/npm/node_modules/deno/deno"
  [ -x "$found" ] || { echo "burrow: the npm package did not contain a deno binary" >&2; return 1; }
  ln -sf "$found" "$BURROW_DENO"
  "$BURROW_DENO" --version | head -n 1 >&2
}

# Fetches every module burrow loads, Worker entry points included (Deno would load them
# lazily), so later runs work offline, e.g. inside a network namespace. Extra arguments are
# more entry points (the Makefile adds the tests).
burrow_ensure_deps() {
  local stamp="$BURROW_TOOLS/deps.stamp"
  if [ $# -eq 0 ] && [ -f "$stamp" ] && [ "$stamp" -nt "$BURROW_ROOT/deno.lock" ] && [ "$stamp" -nt "$BURROW_ROOT/deno.json" ]; then
    return 0
  fi
  (cd "$BURROW_ROOT" && "$BURROW_DENO" install --quiet --frozen --entrypoint main.ts src/tun/*_worker.ts "$@") || return 1
  [ $# -eq 0 ] && touch "$stamp"
  return 0
}
