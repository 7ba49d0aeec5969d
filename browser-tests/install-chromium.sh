#!/usr/bin/env bash
# Installs Chromium from Debian's packages when it is missing (browser-tests drive it with
# playwright-core). Idempotent; runs `apt-get update` only when the first attempt fails.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium is missing and this is not root: install it with 'apt-get install -y chromium'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
LOG=/tmp/browser-apt.log
echo "browser-tests: installing chromium from Debian's packages" >&2
if ! apt-get install -y chromium >"$LOG" 2>&1; then
  apt-get update >>"$LOG" 2>&1
  apt-get install -y chromium >>"$LOG" 2>&1 || {
    cat "$LOG" >&2
    exit 1
  }
fi
command -v chromium >/dev/null
