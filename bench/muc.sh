#!/usr/bin/env bash
# Group chat (XEP-0045) on one Hearth, with bench/muc-load.ts spreading the occupants over
# PROCS generator processes. Each run starts a fresh server on a fresh copy of the seeded
# accounts; the rooms are created by the generator (persistent, history off, the archive off
# or on). Runs, each with the room archive off and on:
#
#   large  one room of LARGE_USERS (100) occupants, LARGE_SENDERS (10) of them sending
#          LARGE_RATE (1000) messages/s in total: LARGE_RATE × 100 deliveries/s; then JOINS
#          (100) more accounts enter that room one after another: joins/s
#   many   MANY_ROOMS (1000) rooms of 10 occupants (MANY_USERS 1000 accounts, each in 10
#          rooms), one sender per room, MANY_RATE (5000) messages/s in total
#
# Reported per run: messages sent/s, deliveries/s (fan-out counted per recipient), delivered
# ÷ expected, latency sent → received (p50/p90/p99/max), joins/s.
#
#   bench/muc.sh                      # PGlite
#   DB=postgres bench/muc.sh          # PostgreSQL (PG_URL, database PG_DB)
#   ONLY=large ARCHIVE=off bench/muc.sh
#
# Knobs: DB, ONLY (large | many | both), ARCHIVE (off | on | both), the sizes and rates
# above, DURATION (20 s), WARMUP (3 s), PROCS (2), SERVER_CPU (0), GEN_CPU (1), PROFILE (0:
# 1 runs the server under node --cpu-prof, profiles in the results folder), NODE_FLAGS (extra
# node flags for the server, e.g. --max-semi-space-size=4 as `npm start` runs it), BUILD (1),
# PG_URL, PG_DB (bench_muc; dropped and recreated). The server listens on 127.0.0.195 (as
# bench/cluster.sh's setup B does: not both at once). Results in .bench/results/muc-<db>-<time>/.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/.bench
ADDR=127.0.0.195
DOMAIN=bench.example
DB=${DB:-pglite}
ONLY=${ONLY:-both}
ARCHIVE=${ARCHIVE:-both}
LARGE_USERS=${LARGE_USERS:-100}
LARGE_SENDERS=${LARGE_SENDERS:-10}
LARGE_RATE=${LARGE_RATE:-1000}
JOINS=${JOINS:-100}
MANY_ROOMS=${MANY_ROOMS:-1000}
MANY_USERS=${MANY_USERS:-1000}
MANY_RATE=${MANY_RATE:-5000}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
PROCS=${PROCS:-2}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
PROFILE=${PROFILE:-0}
NODE_FLAGS=${NODE_FLAGS:-}
BUILD=${BUILD:-1}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-bench_muc}
case $DB in pglite | postgres) ;; *) echo "DB: pglite or postgres" >&2; exit 2 ;; esac
[[ $PG_DB =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "PG_DB: lowercase letters, digits and _" >&2; exit 2; }
RESULTS=$BENCH/results/muc-$DB-$(date +%Y%m%d-%H%M%S)
DATA=$BENCH/muc-data
mkdir -p "$RESULTS"
log() { printf '[muc %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
psql_() { PGOPTIONS='--client-min-messages=warning' psql "$@"; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
ACCOUNTS=$(( (LARGE_USERS + JOINS) > MANY_USERS ? LARGE_USERS + JOINS : MANY_USERS ))

CFG=$BENCH/muc.yaml
cat >"$CFG" <<YAML
# Written by bench/muc.sh.
domains: [$DOMAIN]
dataDir: $DATA
log: {level: warn}
c2s: {listen: ["$ADDR:5222"], directTls: [], requireTls: false, allowPlaintextAuth: true}
s2s: {listen: ["$ADDR:5269"]}
admin: {listen: ["$ADDR:5281"]}
http: {listen: ["$ADDR:5280"]}
mam: {defaultPolicy: never}
YAML
dbenv() { if [ "$DB" = postgres ]; then echo "DATABASE_URL=$PG_URL/$PG_DB"; else echo "DATABASE_URL="; fi; }

# A fresh database with the accounts muc0 … muc<ACCOUNTS-1>.
fresh_state() {
  rm -rf "$DATA"
  if [ "$DB" = postgres ]; then
    psql_ "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null || return 1
  fi
  seq 0 $((ACCOUNTS - 1)) | sed "s/.*/muc&@$DOMAIN bench-password/" |
    env -u REDIS_URL "$(dbenv)" node "$ROOT/bin/hearth.js" user import --config "$CFG" >>"$RESULTS/seed.log" 2>&1
}

PID=
start() { # [profile-dir]
  local prof=() flags=() i
  [ -n "${1:-}" ] && prof=(--cpu-prof --cpu-prof-dir="$1")
  # shellcheck disable=SC2206 # NODE_FLAGS: words on purpose
  [ -n "$NODE_FLAGS" ] && flags=($NODE_FLAGS)
  env -u REDIS_URL "$(dbenv)" taskset -c "$SERVER_CPU" node "${flags[@]}" "${prof[@]}" "$ROOT/bin/hearth.js" start --config "$CFG" >>"$RESULTS/hearth.log" 2>&1 &
  PID=$!
  for ((i = 0; i < 600; i++)); do
    listening "$ADDR" && return 0
    kill -0 "$PID" 2>/dev/null || { log "hearth exited at start (see $RESULTS/hearth.log)"; return 1; }
    sleep 0.1
  done
  log "hearth is not listening after 60 s"
  return 1
}
stop() {
  [ -z "$PID" ] && return 0
  kill -TERM "$PID" 2>/dev/null
  wait_gone "$PID" 20 || kill -KILL "$PID" 2>/dev/null
  { wait "$PID"; } 2>/dev/null
  PID=
}
trap stop EXIT
trap 'stop; exit 130' INT TERM

measure() { # name generator-args...
  local name=$1 profile=''
  shift
  [ "$PROFILE" = 1 ] && profile=$RESULTS/prof-$name
  fresh_state || { log "$name: could not seed the accounts (see $RESULTS/seed.log)"; return 1; }
  start "$profile" || { stop; return 1; }
  taskset -c "$GEN_CPU" node --import tsx "$ROOT/bench/muc-load.ts" --host "$ADDR" --domain "$DOMAIN" \
    --duration "$DURATION" --warmup "$WARMUP" --procs "$PROCS" --server-pid "$PID" --json "$@" >"$RESULTS/$name.json" 2>"$RESULTS/$name.err"
  local rc=$?
  kill -0 "$PID" 2>/dev/null || log "$name: the server died during the run"
  stop
  [ $rc -ne 0 ] && log "$name: generator exit $rc ($(tr '\n' ' ' <"$RESULTS/$name.err" | cut -c1-300))"
  log "$name: $(cat "$RESULTS/$name.json")"
}

if [ "$BUILD" = 1 ]; then
  log "building (npm run build)"
  npm run build >"$RESULTS/build.log" 2>&1 || log "npm run build failed (see $RESULTS/build.log)"
fi
archives=(off on)
[ "$ARCHIVE" = off ] && archives=(off)
[ "$ARCHIVE" = on ] && archives=(on)
for archive in "${archives[@]}"; do
  flag=()
  [ "$archive" = on ] && flag=(--archive)
  if [ "$ONLY" != many ]; then
    measure "large-archive-$archive" --users "$LARGE_USERS" --rooms 1 --rooms-per-user 1 --senders "$LARGE_SENDERS" \
      --rate "$LARGE_RATE" --joins "$JOINS" "${flag[@]}"
  fi
  if [ "$ONLY" != large ]; then
    measure "many-archive-$archive" --users "$MANY_USERS" --rooms "$MANY_ROOMS" --rooms-per-user 10 --senders 1 \
      --rate "$MANY_RATE" "${flag[@]}"
  fi
done
[ "$DB" = postgres ] && psql_ "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
log "results in ${RESULTS#"$ROOT"/}"
