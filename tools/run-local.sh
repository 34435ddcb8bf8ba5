#!/usr/bin/env bash
# make run: burrow's main job on an embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ./burrow agent --socket-path /tmp/burrow-run/olm.sock --state-dir /tmp/burrow-run/state
