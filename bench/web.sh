#!/usr/bin/env bash
# Web transports beside TCP, on one Hearth (PGlite): routed messages/s over TCP, WebSocket
# (RFC 7395) and BOSH (XEP-0206), logins/s over each, and server memory per idle TCP and
# WebSocket session. The server is pinned to one core and bench/c2s-load.ts to the other;
# the server restarts before every run; medians of REPEAT runs, printed as a Markdown table.
# Archiving is off (mam.defaultPolicy: never): what is compared is the transports' cost.
#
#   bench/web.sh                          # REPEAT=3
#   REPEAT=1 DURATION=5 IDLE=1000 bench/web.sh
#
# Knobs: REPEAT (3), USERS (200), INFLIGHT (10), DURATION (8 s), WARMUP (2 s), LOGIN_USERS
# (1000), IDLE (2000, on top of USERS), IDLE_SETTLE (4 s), MECHANISM (PLAIN), SERVER_CPU (0),
# GEN_CPU (1), BUILD (1). Everything it writes lives in .bench/ (gitignored).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/.bench
ADDR=127.0.0.195
DOMAIN=bench.example
REPEAT=${REPEAT:-3}
USERS=${USERS:-200}
INFLIGHT=${INFLIGHT:-10}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
LOGIN_USERS=${LOGIN_USERS:-1000}
IDLE=${IDLE:-2000}
IDLE_SETTLE=${IDLE_SETTLE:-4}
MECHANISM=${MECHANISM:-PLAIN}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
RESULTS=$BENCH/results/web-$(date +%Y%m%d-%H%M%S)
DATA=$BENCH/web-data
CONFIG=$BENCH/web.yaml
mkdir -p "$RESULTS"
log() { printf '[web %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

[ "${BUILD:-1}" = 1 ] && { npm run build >/dev/null || exit 1; }
cat >"$CONFIG" <<YAML
# Written by bench/web.sh.
domains: [$DOMAIN]
dataDir: $DATA
log: {level: warn}
c2s: {listen: ["$ADDR:5222"], directTls: [], requireTls: false, allowPlaintextAuth: true}
s2s: {listen: ["$ADDR:5269"]}
admin: {listen: ["$ADDR:5281"]}
http: {listen: ["$ADDR:5280"]}
mam: {defaultPolicy: never}
YAML
ACCOUNTS=$((USERS + IDLE))
[ "$LOGIN_USERS" -gt "$ACCOUNTS" ] && ACCOUNTS=$LOGIN_USERS
rm -rf "$DATA"
log "importing $ACCOUNTS accounts"
node --import tsx bench/accounts.ts --domain "$DOMAIN" --users "$ACCOUNTS" | env -u DATABASE_URL node bin/hearth.js user import --config "$CONFIG" >&2 || exit 1

PID=
start() {
  env -u DATABASE_URL taskset -c "$SERVER_CPU" node bin/hearth.js start --config "$CONFIG" >>"$RESULTS/hearth.log" 2>&1 &
  PID=$!
  wait_listening "$ADDR" 30 || { log "hearth did not start"; exit 1; }
}
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait_gone "$PID" 15; PID=; }
trap stop EXIT
gen() { taskset -c "$GEN_CPU" node --import tsx bench/c2s-load.ts --host "$ADDR" --domain "$DOMAIN" --mechanism "$MECHANISM" --server-pid "$PID" --json "$@"; }
# field <json-file> <python expression on r>
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null || echo nan; }

for run in $(seq 1 "$REPEAT"); do
  for t in tcp websocket bosh; do
    start
    gen --transport "$t" --users "$USERS" --in-flight "$INFLIGHT" --duration "$DURATION" --warmup "$WARMUP" >"$RESULTS/route-$t-$run.json" 2>>"$RESULTS/gen.log"
    stop
    start
    gen --transport "$t" --users "$LOGIN_USERS" --duration 0 >"$RESULTS/login-$t-$run.json" 2>>"$RESULTS/gen.log"
    stop
    log "run $run $t: $(field "$RESULTS/route-$t-$run.json" "r['routing']['perSecond']") msg/s, $(field "$RESULTS/login-$t-$run.json" "r['logins']['perSecond']") logins/s"
  done
  for t in tcp websocket; do
    start
    gen --transport "$t" --users "$USERS" --duration 0 --idle "$IDLE" --idle-settle "$IDLE_SETTLE" >"$RESULTS/idle-$t-$run.json" 2>>"$RESULTS/gen.log"
    stop
    log "run $run $t: $(field "$RESULTS/idle-$t-$run.json" "r['idle']['kbPerConnection']") KB per idle session"
  done
done

python3 - "$RESULTS" "$REPEAT" <<'PY'
import json, statistics, sys
results, repeat = sys.argv[1], int(sys.argv[2])
def values(kind, transport, path):
    out = []
    for run in range(1, repeat + 1):
        try:
            r = json.load(open(f"{results}/{kind}-{transport}-{run}.json"))
            for key in path: r = r[key]
            out.append(float(r))
        except Exception:
            pass
    return out
def med(v): return statistics.median(v) if v else float('nan')
route = {t: med(values('route', t, ['routing', 'perSecond'])) for t in ('tcp', 'websocket', 'bosh')}
ratios = [w / t for w, t in zip(values('route', 'websocket', ['routing', 'perSecond']), values('route', 'tcp', ['routing', 'perSecond'])) if t]
login = {t: med(values('login', t, ['logins', 'perSecond'])) for t in ('tcp', 'websocket', 'bosh')}
idle = {t: med(values('idle', t, ['idle', 'kbPerConnection'])) for t in ('tcp', 'websocket')}
def cpu_per_message(t):
    # Server CPU microseconds per routed message: the transport's cost, steadier than msg/s
    # on a machine whose speed varies (and when the generator, not the server, is the limit).
    out = []
    for run in range(1, repeat + 1):
        try:
            x = json.load(open(f"{results}/route-{t}-{run}.json"))['routing']
            out.append(x['serverCpuSeconds'] / x['received'] * 1e6)
        except Exception:
            pass
    return out
cost = {t: cpu_per_message(t) for t in ('tcp', 'websocket', 'bosh')}
capacity = [tc / wc for tc, wc in zip(cost['tcp'], cost['websocket']) if wc]
print(f"| medians of {repeat} | TCP | WebSocket | BOSH |")
print("|---|---:|---:|---:|")
print(f"| routed messages/s | {route['tcp']:,.0f} | {route['websocket']:,.0f} ({med(ratios):.2f}× TCP, per-run ratios {', '.join(f'{x:.2f}' for x in ratios)}) | {route['bosh']:,.0f} |")
print(f"| server CPU per routed message | {med(cost['tcp']):.1f} µs | {med(cost['websocket']):.1f} µs (capacity {med(capacity):.2f}× TCP) | {med(cost['bosh']):.1f} µs |")
print(f"| logins/s | {login['tcp']:,.0f} | {login['websocket']:,.0f} | {login['bosh']:,.0f} |")
print(f"| memory per idle session | {idle['tcp']:.1f} KB | {idle['websocket']:.1f} KB ({idle['websocket'] / idle['tcp']:.2f}× TCP) | |")
PY
log "results in ${RESULTS#"$ROOT"/}"
