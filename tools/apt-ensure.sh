#!/usr/bin/env bash
# Installs the Debian packages whose commands are missing. Arguments: COMMAND:PACKAGE ...
set -euo pipefail
missing=()
for pair in "$@"; do
  command=${pair%%:*} package=${pair#*:}
  command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages (install as root): ${missing[*]}" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
