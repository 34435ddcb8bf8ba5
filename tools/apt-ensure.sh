#!/usr/bin/env bash
# Installs the Debian packages whose commands (or shared libraries) are missing.
# Arguments: COMMAND:PACKAGE ... ; a COMMAND with ".so" in its name is a library
# looked up with ldconfig (e.g. libsodium.so.23:libsodium23).
set -euo pipefail
missing=()
for pair in "$@"; do
  command=${pair%%:*} package=${pair#*:}
  if [[ $command == *.so* ]]; then
    /sbin/ldconfig -p 2>/dev/null | grep -qE "^[[:space:]]$command " || missing+=("$package")
    continue
  fi
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
