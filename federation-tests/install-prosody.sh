#!/usr/bin/env bash
# Installs Prosody from Debian's packages when it is missing (federation-tests run it first).
# The Debian package would start a system-wide Prosody on *:5222/*:5269, which would block
# the test addresses: a policy-rc.d that forbids service starts is put in place for the
# install when none exists, and any Prosody the install started anyway is stopped by pid.
set -euo pipefail
# lua-unbound (a Recommends of the package) is what reads /etc/hosts for s2s resolution.
if command -v prosody >/dev/null 2>&1 && dpkg -s lua-unbound >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "prosody is missing and this is not root: install it with 'apt-get install -y prosody'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  ADDED_POLICY=1
fi
trap '[ "$ADDED_POLICY" = 1 ] && rm -f "$POLICY"' EXIT
echo "federation-tests: installing prosody from Debian's packages" >&2
if ! apt-get install -y prosody lua-unbound >/tmp/federation-apt.log 2>&1; then
  apt-get update >>/tmp/federation-apt.log 2>&1
  apt-get install -y prosody lua-unbound >>/tmp/federation-apt.log 2>&1 || {
    cat /tmp/federation-apt.log >&2
    exit 1
  }
fi
# A system Prosody started despite the policy: stop that one process (its pidfile).
for pidfile in /run/prosody/prosody.pid /var/run/prosody/prosody.pid; do
  if [ -s "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && grep -q prosody "/proc/$pid/cmdline" 2>/dev/null; then kill "$pid" || true; fi
  fi
done
prosodyctl about 2>/dev/null | grep -m1 '^Prosody' >&2 || true
