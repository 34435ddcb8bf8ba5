#!/usr/bin/env bash
# Repeats deno test's result as the plain closing line "N passed, N failed".
set -euo pipefail
line=$(sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)
[ -n "$line" ] || { echo "no test summary found" >&2; exit 1; }
passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$line")
failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$line")
ignored=$(sed -nE 's/.*\| ([0-9]+) ignored.*/\1/p' <<<"$line")
echo "$passed passed, $failed failed${ignored:+, $ignored skipped}"
[ "$failed" -eq 0 ]
