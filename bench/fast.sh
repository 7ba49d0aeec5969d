#!/usr/bin/env bash
# Sign-in rates of one Hearth, on PGlite and on PostgreSQL: FAST reconnects (SASL2 + a FAST
# token + Bind 2, XEP-0484/0388/0386) over plain TCP (c2s.requireTls: false, loopback only)
# and over direct TLS with TLS session resumption, beside SASL2 SCRAM and the legacy SCRAM
# flow (SASL, stream restart, resource binding). bench/fast-login.ts drives it, pinned to one
# core with the server on the other; the server restarts before every flow; medians of REPEAT
# runs, printed as a Markdown table.
#
#   bench/fast.sh                      # REPEAT=3, both databases
#   REPEAT=1 USERS=1000 DATABASES=pglite bench/fast.sh
#
# Knobs: REPEAT (3), USERS (2000), CONCURRENCY (100), ROUNDS (3), DATABASES ("pglite postgres"),
# FLOWS_ONLY (the flows to run, by name, e.g. "fast-tcp"; default all),
# PG_URL (postgres://postgres@127.0.0.1:5432), PG_DB (hearth_fast_bench), SERVER_CPU (0),
# GEN_CPU (1), BUILD (1). Everything it writes lives in .bench/ (gitignored).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/.bench
ADDR=127.0.0.196
DOMAIN=bench.example
REPEAT=${REPEAT:-3}
USERS=${USERS:-2000}
CONCURRENCY=${CONCURRENCY:-100}
ROUNDS=${ROUNDS:-3}
DATABASES=${DATABASES:-pglite postgres}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-hearth_fast_bench}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
RESULTS=$BENCH/results/fast-$(date +%Y%m%d-%H%M%S)
DATA=$BENCH/fast-data
CONFIG=$BENCH/fast.yaml
mkdir -p "$RESULTS"
log() { printf '[fast %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

[ "${BUILD:-1}" = 1 ] && { npm run build >/dev/null || exit 1; }
# Archiving stays on (its default): a Bind 2 sign-in reports the archive's bounds (XEP-0386 §7).
cat >"$CONFIG" <<YAML
# Written by bench/fast.sh.
domains: [$DOMAIN]
dataDir: $DATA
log: {level: warn}
c2s: {listen: ["$ADDR:5222"], directTls: ["$ADDR:5223"], requireTls: false, allowPlaintextAuth: true}
s2s: {listen: ["$ADDR:5269"]}
admin: {listen: ["$ADDR:5281"]}
http: {listen: ["$ADDR:5280"]}
YAML

PID=
DB_ENV=()
prepare() { # database
  rm -rf "$DATA"
  if [ "$1" = postgres ]; then
    psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null || { log "no PostgreSQL at $PG_URL"; return 1; }
    DB_ENV=(env DATABASE_URL="$PG_URL/$PG_DB")
  else
    DB_ENV=(env -u DATABASE_URL)
  fi
  log "$1: importing $USERS accounts"
  node --import tsx bench/accounts.ts --domain "$DOMAIN" --users "$USERS" | "${DB_ENV[@]}" node bin/hearth.js user import --config "$CONFIG" >&2
}
start() {
  "${DB_ENV[@]}" taskset -c "$SERVER_CPU" node bin/hearth.js start --config "$CONFIG" >>"$RESULTS/hearth.log" 2>&1 &
  PID=$!
  wait_listening "$ADDR" 30 || { log "hearth did not start"; exit 1; }
}
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait_gone "$PID" 15; PID=; }
trap stop EXIT
gen() {
  taskset -c "$GEN_CPU" node --import tsx bench/fast-login.ts --host "$ADDR" --domain "$DOMAIN" --users "$USERS" \
    --concurrency "$CONCURRENCY" --rounds "$ROUNDS" --server-pid "$PID" --json "$@"
}
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null || echo nan; }

# name: the flow's arguments to bench/fast-login.ts
declare -A FLOWS=(
  [legacy-tcp]="--flow legacy-scram"
  [sasl2-tcp]="--flow sasl2-scram"
  [fast-tcp]="--flow fast"
  [fast-tls]="--flow fast --tls --port 5223"
  [fast-expr-tls]="--flow fast --tls --port 5223 --mechanism HT-SHA-256-EXPR"
  [sasl2-tls]="--flow sasl2-scram --tls --port 5223"
)
# shellcheck disable=SC2206
ORDER=(${FLOWS_ONLY:-legacy-tcp sasl2-tcp fast-tcp sasl2-tls fast-tls fast-expr-tls})

# This machine's speed changes from day to day: one figure to compare days by (a PBKDF2 of
# 4,096 SHA-256 iterations, the median of 30, on the server's core).
PBKDF2_MS=$(taskset -c "$SERVER_CPU" node -e "
const c = require('node:crypto'); const t = [];
for (let i = 0; i < 30; i++) { const s = process.hrtime.bigint(); c.pbkdf2Sync('password', 'salt0123456789ab', 4096, 32, 'sha256'); t.push(Number(process.hrtime.bigint() - s) / 1e6); }
t.sort((a, b) => a - b); console.log(t[15].toFixed(2));")
log "machine: PBKDF2-SHA-256 (4,096 iterations) takes $PBKDF2_MS ms"

for db in $DATABASES; do
  prepare "$db" || exit 1
  for run in $(seq 1 "$REPEAT"); do
    for name in "${ORDER[@]}"; do
      start
      # shellcheck disable=SC2086
      gen ${FLOWS[$name]} >"$RESULTS/$db-$name-$run.json" 2>>"$RESULTS/gen.log"
      stop
      log "$db run $run $name: $(field "$RESULTS/$db-$name-$run.json" "r['perSecond']") logins/s, $(field "$RESULTS/$db-$name-$run.json" "r['serverCpuUsPerLogin']") µs server CPU each, $(field "$RESULTS/$db-$name-$run.json" "r['failed']") failed"
    done
  done
done

python3 - "$RESULTS" "$REPEAT" "$DATABASES" "${ORDER[@]}" <<'PY'
import json, statistics, sys
results, repeat, databases, order = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4:]
labels = {
  'legacy-tcp': 'legacy SASL SCRAM-SHA-256 + restart + bind, TCP',
  'sasl2-tcp': 'SASL2 SCRAM-SHA-256 + Bind 2, TCP',
  'fast-tcp': 'SASL2 FAST HT-SHA-256-NONE + Bind 2, TCP',
  'sasl2-tls': 'SASL2 SCRAM-SHA-256 + Bind 2, direct TLS (resumed)',
  'fast-tls': 'SASL2 FAST HT-SHA-256-NONE + Bind 2, direct TLS (resumed)',
  'fast-expr-tls': 'SASL2 FAST HT-SHA-256-EXPR + Bind 2, direct TLS (resumed)',
}
def runs(db, name):
    out = []
    for run in range(1, repeat + 1):
        try: out.append(json.load(open(f"{results}/{db}-{name}-{run}.json")))
        except Exception: pass
    return out
def med(v): return statistics.median(v) if v else float('nan')
print(f"| medians of {repeat} runs | " + " | ".join(f"{db} logins/s | {db} server µs/login" for db in databases) + " |")
print("|---|" + "---:|---:|" * len(databases))
for name in order:
    cells = []
    for db in databases:
        r = runs(db, name)
        rate = med([x['perSecond'] for x in r])
        cpu = med([x['serverCpuUsPerLogin'] for x in r if x.get('serverCpuUsPerLogin') is not None])
        failed = sum(x['failed'] for x in r)
        cells += [f"{rate:,.0f}" + (f" ({failed} failed)" if failed else ""), f"{cpu:,.0f}"]
    print(f"| {labels[name]} | " + " | ".join(cells) + " |")
PY
echo "(machine: PBKDF2-SHA-256 with 4,096 iterations took $PBKDF2_MS ms)"
log "results in ${RESULTS#"$ROOT"/}"
