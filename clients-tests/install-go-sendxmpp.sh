#!/usr/bin/env bash
# Installs go-sendxmpp from Debian's packages when it is missing (clients-tests run it first).
# Idempotent: does nothing when the command is already there; runs `apt-get update` only
# when the first install attempt fails (an empty or stale package list).
set -euo pipefail
if command -v go-sendxmpp >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "go-sendxmpp is missing and this is not root: install it with 'apt-get install -y go-sendxmpp'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
LOG=/tmp/clients-apt.log
echo "clients-tests: installing go-sendxmpp from Debian's packages" >&2
if ! apt-get install -y go-sendxmpp >"$LOG" 2>&1; then
  apt-get update >>"$LOG" 2>&1
  apt-get install -y go-sendxmpp >>"$LOG" 2>&1 || {
    cat "$LOG" >&2
    exit 1
  }
fi
command -v go-sendxmpp >/dev/null
