#!/usr/bin/env bash
# Compiles dist/burrow with the pinned Deno and the launcher's permissions.
set -euo pipefail
. "$(dirname "$0")/deno.sh"
cd "$BURROW_ROOT"
mkdir -p dist
includes=()
for worker in src/tun/*worker*.ts; do [ -e "$worker" ] && includes+=(--include "$worker"); done
if [ -n "${DENORT_BIN:-}" ]; then
  [ -x "$DENORT_BIN" ] || { echo "make build: DENORT_BIN=$DENORT_BIN is not an executable denort" >&2; exit 1; }
  echo "make build: using denort from DENORT_BIN=$DENORT_BIN" >&2
elif ! curl -fsI --max-time 5 https://dl.deno.land >/dev/null 2>&1; then
  cat >&2 <<MSG
make build: deno compile needs the denort runtime for Deno $BURROW_DENO_VERSION, which it downloads
from dl.deno.land, and that host is not reachable from here. Either build where it is
reachable, or download denort-x86_64-unknown-linux-gnu.zip for v$BURROW_DENO_VERSION elsewhere,
unzip it, and run: make build DENORT_BIN=/path/to/denort
MSG
  exit 1
fi
"$BURROW_DENO" compile "${BURROW_FLAGS[@]}" "${includes[@]}" --output dist/burrow main.ts
echo "built dist/burrow" >&2
