#!/usr/bin/env bash
# Side-by-side c2s benchmark: Hearth (PGlite and PostgreSQL), Prosody and ejabberd, each on
# its own loopback address, the server pinned to one core and the load generator
# (bench/c2s-load.ts) to the other, the server restarted before every run, medians printed
# as a Markdown table.
#
#   bench/compare.sh                              # all four servers, 3 runs of everything
#   REPEAT=1 DURATION=5 bench/compare.sh hearth-pglite prosody      # one run of each
#   QUICK=1 bench/compare.sh hearth-pglite prosody    # REPEAT=1 DURATION=3 WARMUP=1
#                                 IDLE_SETTLE=2 IDLE=1000: about 1 min per server
#   SCENARIOS=p bench/compare.sh hearth-pglite hearth-postgres   # the presence benchmark
#
# Scenarios (SCENARIOS="a b c d e" by default):
#   a  routing, USERS_A (200) users, INFLIGHT_A (10) messages in flight per sender
#   b  routing, USERS_B (1000) users, INFLIGHT_B (2) in flight
#   c  latency at a steady RATE (2000) messages/s with USERS_A users
#   d  logins/s for LOGIN_USERS (1000) accounts, with PLAIN and with SCRAM-SHA-1 (the
#      client caching its SaltedPassword; a first unmeasured pass fills the cache)
#   e  server memory per idle authenticated connection: IDLE (2000) connections on top
#      of IDLE_BASE (200) logged in first
#   s  (not in the default set; Hearth only) sessions: scenario b without stream management
#      and with archiving off (mam.defaultPolicy: never), then with every client on XEP-0198
#      and every message archived (sender's and recipient's archive); their ratio; and KB
#      per idle stream-management session (IDLE on top of IDLE_BASE, like e)
#   p  (not in the default set; Hearth only) presence: USERS_P (200) accounts
#      PREFIX_P<i> (pres), each with a roster of CONTACTS_P (50) mutual contacts (i ↔
#      i±1..±25 mod 200, seeded once by bench/seed-rosters.ts while the server is stopped),
#      log in with initial presence; logins/s with presence broadcast, presence stanzas
#      delivered per second, and each expected (receiver, contact) available presence
#      checked to arrive exactly once. The server restarts before each run; the rosters
#      persist. Prosody and ejabberd are skipped (no seeding for them here).
# Other knobs: PRESENCE_QUIET (1 s), PRESENCE_TIMEOUT (60 s), REPEAT (3), DURATION (10 s), WARMUP (2 s), IDLE_SETTLE (5 s),
# LOGIN_CONCURRENCY (50), SERVER_CPU (0), GEN_CPU (1), BUILD (1: npm run build first),
# PROSODY_LIMITS (0; 1 loads mod_limits with Debian's c2s rate = "10kb/s"),
# EJABBERD_SHAPER (none; "normal" is Debian's 3,000 B/s per client),
# PG_URL (postgres://postgres@127.0.0.1:5432), PG_DB (hearth_bench).
# Runs as root (it installs Debian packages when missing, and ejabberd runs as its own user).
# Everything it writes lives in .bench/ (gitignored); results in .bench/results/<time>/.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/.bench
DOMAIN=bench.example
if [ "${QUICK:-0}" = 1 ]; then # a look in about a minute per server
  : "${REPEAT:=1}" "${DURATION:=3}" "${WARMUP:=1}" "${IDLE_SETTLE:=2}" "${IDLE:=1000}"
fi
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RATE=${RATE:-2000}
USERS_A=${USERS_A:-200}
INFLIGHT_A=${INFLIGHT_A:-10}
USERS_B=${USERS_B:-1000}
INFLIGHT_B=${INFLIGHT_B:-2}
LOGIN_USERS=${LOGIN_USERS:-1000}
IDLE=${IDLE:-2000}
IDLE_BASE=${IDLE_BASE:-200}
IDLE_SETTLE=${IDLE_SETTLE:-5}
USERS_P=${USERS_P:-200}
CONTACTS_P=${CONTACTS_P:-50}
PREFIX_P=${PREFIX_P:-pres}
PRESENCE_QUIET=${PRESENCE_QUIET:-1}
PRESENCE_TIMEOUT=${PRESENCE_TIMEOUT:-60}
LOGIN_CONCURRENCY=${LOGIN_CONCURRENCY:-50}
SCENARIOS=${SCENARIOS:-a b c d e}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
BUILD=${BUILD:-1}
PROSODY_LIMITS=${PROSODY_LIMITS:-0}
EJABBERD_SHAPER=${EJABBERD_SHAPER:-none}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-hearth_bench}

ALL_SERVERS=(hearth-pglite hearth-postgres prosody ejabberd)
SERVERS=("$@")
[ ${#SERVERS[@]} -eq 0 ] && SERVERS=("${ALL_SERVERS[@]}")
for s in "${SERVERS[@]}"; do
  case $s in hearth-pglite | hearth-postgres | prosody | ejabberd) ;;
  *) echo "unknown server '$s' (expected: ${ALL_SERVERS[*]})" >&2; exit 2 ;;
  esac
done

has_scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }
# The bench<i> accounts the chosen scenarios use (p has its own, seeded with rosters).
ACCOUNTS=0
{ has_scenario a || has_scenario c; } && [ "$USERS_A" -gt "$ACCOUNTS" ] && ACCOUNTS=$USERS_A
has_scenario b && [ "$USERS_B" -gt "$ACCOUNTS" ] && ACCOUNTS=$USERS_B
has_scenario d && [ "$LOGIN_USERS" -gt "$ACCOUNTS" ] && ACCOUNTS=$LOGIN_USERS
has_scenario e && [ $((IDLE_BASE + IDLE)) -gt "$ACCOUNTS" ] && ACCOUNTS=$((IDLE_BASE + IDLE))
has_scenario s && [ "$USERS_B" -gt "$ACCOUNTS" ] && ACCOUNTS=$USERS_B
has_scenario s && [ $((IDLE_BASE + IDLE)) -gt "$ACCOUNTS" ] && ACCOUNTS=$((IDLE_BASE + IDLE))

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$BENCH/results/$STAMP
mkdir -p "$RESULTS"

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Thousands of sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "open files limit $(ulimit -n); results in ${RESULTS#"$ROOT"/}"
if [ "$(nproc)" -lt 2 ] && [ "$SERVER_CPU" != "$GEN_CPU" ]; then
  log "fewer than 2 cores: server and generator share core 0"
  SERVER_CPU=0 GEN_CPU=0
fi

gen() { taskset -c "$GEN_CPU" node --import tsx "$ROOT/bench/c2s-load.ts" --domain "$DOMAIN" --login-concurrency "$LOGIN_CONCURRENCY" "$@"; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# ---- Debian packages --------------------------------------------------------------------------

# Installs a package when its command is missing. A package's maintainer scripts may start
# its system-wide service (on all interfaces, with the Debian config): whatever process of
# that name appears during the install is stopped again, and nothing else is touched.
ensure_package() { # package command process-pattern stop-command...
  local pkg=$1 cmd=$2 pattern=$3
  shift 3
  command -v "$cmd" >/dev/null 2>&1 && return 0
  log "installing $pkg from Debian"
  local before after pid
  before=$(pgrep -f "$pattern" | sort)
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >"$RESULTS/apt-$pkg.log" 2>&1; then
    apt-get update >>"$RESULTS/apt-$pkg.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >>"$RESULTS/apt-$pkg.log" 2>&1 || {
      log "could not install $pkg (see $RESULTS/apt-$pkg.log)"
      return 1
    }
  fi
  sleep 2
  after=$(pgrep -f "$pattern" | sort)
  local started
  started=$(comm -13 <(echo "$before") <(echo "$after") | grep . || true)
  if [ -n "$started" ]; then
    log "the $pkg package started its own service (pids $(echo $started)); stopping it"
    "$@" >/dev/null 2>&1 || true
    for pid in $started; do
      wait_gone "$pid" 15 || kill "$pid" 2>/dev/null || true
    done
  fi
}

# ---- Hearth ---------------------------------------------------------------------------------

HEARTH_ADDR=127.0.0.180
hearth_config() { # variant -> config path
  local variant=$1 file=$BENCH/hearth-$1.yaml data=hearth-$1-data
  [ "$variant" = pglite ] && file=$BENCH/hearth.yaml && data=hearth-data
  cat >"$file" <<EOF
# Written by bench/compare.sh.
domains: [$DOMAIN]
dataDir: $data
log: {level: warn}
c2s: {listen: ["$HEARTH_ADDR:5222"], directTls: [], requireTls: false, allowPlaintextAuth: true}
s2s: {listen: ["$HEARTH_ADDR:5269"]}
admin: {listen: ["$HEARTH_ADDR:5281"]}
http: {listen: ["$HEARTH_ADDR:5280"]}
${HEARTH_EXTRA_YAML:-}
EOF
  echo "$file"
}
hearth_env() { # variant -> runs the rest with DATABASE_URL set (or unset) for it
  local variant=$1
  shift
  if [ "$variant" = postgres ]; then DATABASE_URL="$PG_URL/$PG_DB" "$@"; else env -u DATABASE_URL "$@"; fi
}
setup_hearth() { # variant
  local variant=$1 config data=$BENCH/hearth-$1-data
  [ "$variant" = pglite ] && data=$BENCH/hearth-data
  config=$(hearth_config "$variant")
  rm -rf "$data"
  if [ "$variant" = postgres ]; then
    psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null || {
      log "cannot create database $PG_DB at $PG_URL"
      return 1
    }
  fi
  if [ "$ACCOUNTS" -gt 0 ]; then
    log "hearth-$variant: importing $ACCOUNTS accounts"
    node --import tsx "$ROOT/bench/accounts.ts" --domain "$DOMAIN" --users "$ACCOUNTS" |
      hearth_env "$variant" node "$ROOT/bin/hearth.js" user import --config "$config" >&2 || return 1
  fi
  if has_scenario p; then
    # The server is not running here (PGlite: one process per data directory).
    log "hearth-$variant: seeding $USERS_P accounts ${PREFIX_P}<i> with $CONTACTS_P mutual contacts each"
    hearth_env "$variant" node --import tsx "$ROOT/bench/seed-rosters.ts" --config "$config" --domain "$DOMAIN" \
      --users "$USERS_P" --contacts "$CONTACTS_P" --user-prefix "$PREFIX_P" 2>&1 | tee -a "$RESULTS/seed-hearth-$variant.log" >&2
    [ "${PIPESTATUS[0]}" -eq 0 ] || { log "hearth-$variant: seeding failed (see $RESULTS/seed-hearth-$variant.log)"; return 1; }
  fi
}
start_hearth() { # variant -> SERVER_PID
  local variant=$1 config
  config=$(hearth_config "$variant")
  # Not through a shell function: $! must be the node process itself (env and taskset exec).
  if [ "$variant" = postgres ]; then
    env DATABASE_URL="$PG_URL/$PG_DB" taskset -c "$SERVER_CPU" node "$ROOT/bin/hearth.js" start --config "$config" \
      >>"$RESULTS/hearth-$variant.log" 2>&1 &
  else
    env -u DATABASE_URL taskset -c "$SERVER_CPU" node "$ROOT/bin/hearth.js" start --config "$config" \
      >>"$RESULTS/hearth-$variant.log" 2>&1 &
  fi
  SERVER_PID=$!
  wait_listening "$HEARTH_ADDR" 60
}
stop_hearth() {
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait_gone "$SERVER_PID" 15 || kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
}

# ---- Prosody --------------------------------------------------------------------------------

PROSODY_ADDR=127.0.0.181
PROSODY_DIR=$BENCH/prosody
setup_prosody() {
  ensure_package prosody prosody '/usr/bin/prosody' prosodyctl stop || return 1
  rm -rf "$PROSODY_DIR"
  mkdir -p "$PROSODY_DIR/data" "$PROSODY_DIR/certs"
  local limits=''
  [ "$PROSODY_LIMITS" = 1 ] && limits='"limits";'
  sed -e "s|@DIR@|$PROSODY_DIR|g; s|@ADDR@|$PROSODY_ADDR|g; s|@DOMAIN@|$DOMAIN|g; s|@LIMITS@|$limits|g" \
    "$ROOT/bench/configs/prosody.cfg.lua" >"$PROSODY_DIR/prosody.cfg.lua"
  log "prosody: writing $ACCOUNTS internal_plain accounts"
  node --import tsx "$ROOT/bench/accounts.ts" --format prosody --out "$PROSODY_DIR/data" --domain "$DOMAIN" --users "$ACCOUNTS" 2>/dev/null
}
start_prosody() {
  taskset -c "$SERVER_CPU" prosody -F --config "$PROSODY_DIR/prosody.cfg.lua" >>"$RESULTS/prosody.log" 2>&1 &
  SERVER_PID=$!
  wait_listening "$PROSODY_ADDR" 30
}
stop_prosody() {
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait_gone "$SERVER_PID" 15 || kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
}

# ---- ejabberd -------------------------------------------------------------------------------

EJABBERD_ADDR=127.0.0.182
EJABBERD_DIR=$BENCH/ejabberd
ejabberdctl_() { ejabberdctl --config-dir "$EJABBERD_DIR" --logs "$EJABBERD_DIR/logs" --spool "$EJABBERD_DIR/spool" "$@"; }
setup_ejabberd() {
  ensure_package ejabberd ejabberdctl 'ejabberd@localhost' ejabberdctl stop || return 1
  rm -rf "$EJABBERD_DIR"
  mkdir -p "$EJABBERD_DIR/spool" "$EJABBERD_DIR/logs"
  sed -e "s|@ADDR@|$EJABBERD_ADDR|g; s|@DOMAIN@|$DOMAIN|g; s|@SHAPER@|$EJABBERD_SHAPER|g" \
    "$ROOT/bench/configs/ejabberd.yml" >"$EJABBERD_DIR/ejabberd.yml"
  sed -e "s|@DIR@|$EJABBERD_DIR|g" "$ROOT/bench/configs/ejabberdctl.cfg" >"$EJABBERD_DIR/ejabberdctl.cfg"
  [ -f /etc/ejabberd/inetrc ] && cp /etc/ejabberd/inetrc "$EJABBERD_DIR/inetrc"
  printf '#!/bin/sh\nulimit -n "$(ulimit -Hn)" 2>/dev/null\nexec /usr/bin/erl "$@"\n' >"$EJABBERD_DIR/erl-nofile"
  chmod 755 "$EJABBERD_DIR/erl-nofile"
  node --import tsx "$ROOT/bench/accounts.ts" --format piefxis --domain "$DOMAIN" --users "$ACCOUNTS" >"$EJABBERD_DIR/accounts.xml"
  chown -R ejabberd:ejabberd "$EJABBERD_DIR"
  # ejabberd runs as the ejabberd user: it must reach its files under .bench/.
  local d=$EJABBERD_DIR
  while [ "$d" != / ]; do d=$(dirname "$d"); [ -x "$d" ] || chmod o+x "$d"; done
  start_ejabberd || return 1
  log "ejabberd: importing $ACCOUNTS accounts (XEP-0227)"
  ejabberdctl_ import_piefxis "$EJABBERD_DIR/accounts.xml" >>"$RESULTS/ejabberd.log" 2>&1
  local n
  n=$(ejabberdctl_ registered_users "$DOMAIN" 2>/dev/null | grep -c '^bench[0-9]')
  stop_ejabberd
  [ "$n" -ge "$ACCOUNTS" ] || { log "ejabberd: only $n accounts registered"; return 1; }
}
start_ejabberd() {
  rm -f "$EJABBERD_DIR/ejabberd.pid"
  taskset -c "$SERVER_CPU" ejabberdctl --config-dir "$EJABBERD_DIR" --logs "$EJABBERD_DIR/logs" --spool "$EJABBERD_DIR/spool" \
    foreground >>"$RESULTS/ejabberd.log" 2>&1 &
  EJABBERD_CTL_PID=$!
  wait_listening "$EJABBERD_ADDR" 60 || return 1
  local i
  for ((i = 0; i < 100; i++)); do [ -s "$EJABBERD_DIR/ejabberd.pid" ] && break; sleep 0.1; done
  SERVER_PID=$(cat "$EJABBERD_DIR/ejabberd.pid" 2>/dev/null) # the beam.smp process
  [ -n "$SERVER_PID" ]
}
stop_ejabberd() {
  ejabberdctl_ stop >/dev/null 2>&1
  wait_gone "$SERVER_PID" 30 || kill -KILL "$SERVER_PID" 2>/dev/null
  wait_gone "$EJABBERD_CTL_PID" 5 || kill "$EJABBERD_CTL_PID" 2>/dev/null
  wait "$EJABBERD_CTL_PID" 2>/dev/null
}

# ---- one server -------------------------------------------------------------------------------

server_setup() {
  case $1 in
  hearth-pglite) setup_hearth pglite ;; hearth-postgres) setup_hearth postgres ;;
  prosody) setup_prosody ;; ejabberd) setup_ejabberd ;;
  esac
}
server_start() {
  case $1 in
  hearth-pglite) start_hearth pglite ;; hearth-postgres) start_hearth postgres ;;
  prosody) start_prosody ;; ejabberd) start_ejabberd ;;
  esac
}
server_stop() {
  case $1 in
  hearth-*) stop_hearth ;; prosody) stop_prosody ;; ejabberd) stop_ejabberd ;;
  esac
}
server_addr() {
  case $1 in hearth-*) echo $HEARTH_ADDR ;; prosody) echo $PROSODY_ADDR ;; ejabberd) echo $EJABBERD_ADDR ;; esac
}

# One measurement: restart the server, run the generator, keep its JSON.
measure() { # server name run generator-args...
  local server=$1 name=$2 run=$3
  shift 3
  local out=$RESULTS/$server.$name.$run.json
  if ! server_start "$server"; then
    log "$server did not start (see $RESULTS/$server*.log)"
    server_stop "$server"
    return 1
  fi
  sleep 1
  gen --host "$(server_addr "$server")" --server-pid "$SERVER_PID" --json "$@" >"$out" 2>"$RESULTS/$server.$name.$run.err"
  local rc=$?
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "$server: the server process $SERVER_PID died during $name (run $run)"
    echo "$server $name $run: server process died" >>"$RESULTS/incidents.txt"
  fi
  server_stop "$server"
  [ $rc -ne 0 ] && log "$server $name run $run: generator exit $rc ($(tr '\n' ' ' <"$RESULTS/$server.$name.$run.err" | cut -c1-200))"
  return 0
}

run_server() {
  local server=$1 r
  log "== $server: setting up"
  server_setup "$server" || { log "$server: setup failed, skipped"; return; }
  for ((r = 1; r <= REPEAT; r++)); do
    for sc in $SCENARIOS; do
      case $sc in
      a) measure "$server" a "$r" --users "$USERS_A" --in-flight "$INFLIGHT_A" --duration "$DURATION" --warmup "$WARMUP" ;;
      b) measure "$server" b "$r" --users "$USERS_B" --in-flight "$INFLIGHT_B" --duration "$DURATION" --warmup "$WARMUP" ;;
      c) measure "$server" c "$r" --users "$USERS_A" --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP" ;;
      d)
        measure "$server" d-plain "$r" --users "$LOGIN_USERS" --duration 0 --mechanism PLAIN
        measure "$server" d-scram "$r" --users "$LOGIN_USERS" --duration 0 --mechanism SCRAM-SHA-1
        ;;
      e) measure "$server" e "$r" --users "$IDLE_BASE" --duration 0 --idle "$IDLE" --idle-settle "$IDLE_SETTLE" ;;
      s)
        case $server in
        hearth-*)
          # The sessions issue's target: scenario b with every client on stream management
          # (acking, and asking for an ack after each message, as mobile clients do) and every
          # message archived twice, against the same run with neither. Then the memory of
          # idle stream-management sessions.
          HEARTH_EXTRA_YAML='mam: {defaultPolicy: never}' measure "$server" s-off "$r" --users "$USERS_B" --in-flight "$INFLIGHT_B" --duration "$DURATION" --warmup "$WARMUP"
          measure "$server" s-on "$r" --users "$USERS_B" --in-flight "$INFLIGHT_B" --duration "$DURATION" --warmup "$WARMUP" --sm
          measure "$server" s-idle "$r" --users "$IDLE_BASE" --duration 0 --idle "$IDLE" --idle-settle "$IDLE_SETTLE" --sm
          ;;
        *)
          [ "$r" = 1 ] && log "$server: scenario s is Hearth only (its archive is switched off by configuration), skipped"
          continue
          ;;
        esac
        ;;
      p)
        case $server in
        hearth-*)
          measure "$server" p "$r" --scenario presence --mechanism "${MECHANISM_P:-SCRAM-SHA-1}" --users "$USERS_P" --contacts "$CONTACTS_P" --user-prefix "$PREFIX_P" \
            --presence-quiet "$PRESENCE_QUIET" --presence-timeout "$PRESENCE_TIMEOUT"
          ;;
        *)
          [ "$r" = 1 ] && log "$server: scenario p is Hearth only (no roster seeding for $server), skipped"
          continue
          ;;
        esac
        ;;
      *) log "unknown scenario '$sc'" ;;
      esac
      log "$server: scenario $sc run $r done"
    done
  done
}

# ---- main -----------------------------------------------------------------------------------

if [ "$BUILD" = 1 ] && [[ " ${SERVERS[*]} " == *" hearth-"* ]]; then
  log "building Hearth (npm run build)"
  (npm run build >"$RESULTS/build.log" 2>&1) || log "npm run build failed (see $RESULTS/build.log); using the existing dist/"
fi

START=$SECONDS
for server in "${SERVERS[@]}"; do run_server "$server"; done
log "done in $((SECONDS - START)) s"

# Medians of the runs, one Markdown table: metrics down, servers across.
node --input-type=module - "$RESULTS" "${SERVERS[@]}" <<'EOF'
import { readFileSync, readdirSync, existsSync } from 'node:fs';
const [dir, ...servers] = process.argv.slice(2);
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const runs = (server, scenario) =>
  files
    .filter((f) => f.startsWith(`${server}.${scenario}.`))
    .map((f) => {
      try { return JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')); } catch { return null; }
    })
    .filter(Boolean);
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const fmt = (x, digits = 0) => (x === null ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const metric = (label, scenario, pick, digits = 0) => ({ label, cells: servers.map((s) => fmt(median(runs(s, scenario).map(pick)), digits)) });
const sum = (o) => Object.values(o ?? {}).reduce((a, b) => a + b, 0);
const rows = [
  metric('routed msg/s, 200 users, 10 in flight', 'a', (r) => r.routing?.perSecond),
  metric('routed msg/s, 1000 users, 2 in flight', 'b', (r) => r.routing?.perSecond),
  metric('p50 latency at 2,000 msg/s (ms)', 'c', (r) => r.routing?.latency?.p50Ms, 2),
  metric('p99 latency at 2,000 msg/s (ms)', 'c', (r) => r.routing?.latency?.p99Ms, 2),
  metric('achieved steady rate (msg/s)', 'c', (r) => r.routing?.perSecond),
  metric('logins/s, PLAIN', 'd-plain', (r) => r.logins?.perSecond),
  metric('logins/s, SCRAM-SHA-1 (client cache warm)', 'd-scram', (r) => r.logins?.perSecond),
  metric('logins/s, SCRAM-SHA-1 (cold, first pass)', 'd-scram', (r) => r.logins?.cold?.perSecond),
  metric('KB per idle authenticated connection', 'e', (r) => r.idle?.kbPerConnection, 1),
  metric('server CPU % during a / b', 'a', (r) => r.routing?.serverCpuPct),
  metric('generator CPU % during a (one core)', 'a', (r) => r.routing?.generatorCpuPct),
  metric('generator CPU % during b (one core)', 'b', (r) => r.routing?.generatorCpuPct),
  metric('generator CPU % during d SCRAM (one core)', 'd-scram', (r) => r.logins?.generatorCpuPct),
  metric('other busy CPU % during a (disturbance)', 'a', (r) => r.routing?.otherCpuPct),
  metric('longest gap between deliveries, a / b (ms)', 'a', () => null),
];
rows[rows.length - 1].cells = servers.map((s) => `${fmt(median(runs(s, 'a').map((r) => r.routing?.maxDeliveryGapMs)), 1)} / ${fmt(median(runs(s, 'b').map((r) => r.routing?.maxDeliveryGapMs)), 1)}`);
const b = rows[9];
// Scenario p (presence), when it ran.
if (servers.some((s) => runs(s, 'p').length > 0)) {
  const p0 = servers.map((s) => runs(s, 'p')).flat()[0]?.presence;
  const mech = servers.map((s) => runs(s, 'p')).flat()[0]?.options?.mechanism ?? '';
  const shape = p0 ? `${p0.users} users × ${p0.contacts} contacts${mech ? ', ' + mech : ''}` : 'presence';
  rows.push(
    metric(`logins/s with presence broadcast (${shape})`, 'p', (r) => r.logins?.perSecond),
    metric('presence stanzas delivered/s', 'p', (r) => r.presence?.perSecond),
    metric('presence stanzas delivered per run', 'p', (r) => r.presence?.received),
    metric('presence latency p50 (ms)', 'p', (r) => r.presence?.latency?.p50Ms, 1),
    metric('presence latency p99 (ms)', 'p', (r) => r.presence?.latency?.p99Ms, 1),
    metric('server CPU % during p (first connect → last presence)', 'p', (r) => r.presence?.cpu?.serverCpuPct),
    metric('generator CPU % during p (one core)', 'p', (r) => r.presence?.cpu?.generatorCpuPct),
    metric('other busy CPU % during p (disturbance)', 'p', (r) => r.presence?.cpu?.otherCpuPct),
    { label: 'presence pairs missing / duplicate / unexpected (all runs)', cells: servers.map((s) => {
      const rs = runs(s, 'p');
      if (rs.length === 0) return '–';
      const t = (k) => rs.reduce((a, r) => a + (r.presence?.[k] ?? 0), 0);
      return `${t('missingPairs')} / ${t('duplicates')} / ${t('unexpected')}`;
    }) },
  );
}
// Scenario s (sessions), when it ran.
if (servers.some((s) => runs(s, 's-on').length > 0)) {
  const ratio = (s) => {
    const on = median(runs(s, 's-on').map((r) => r.routing?.perSecond));
    const off = median(runs(s, 's-off').map((r) => r.routing?.perSecond));
    return on === null || off === null || off === 0 ? '–' : `${fmt((100 * on) / off)}%`;
  };
  rows.push(
    metric('routed msg/s as in b, no SM, no archive', 's-off', (r) => r.routing?.perSecond),
    metric('routed msg/s, same, every client on SM, every message archived twice', 's-on', (r) => r.routing?.perSecond),
    { label: 'SM + archive as a share of the plain run (target ≥ 60%)', cells: servers.map(ratio) },
    metric('p99 latency with SM + archive (ms)', 's-on', (r) => r.routing?.latency?.p99Ms, 2),
    metric('KB per idle stream-management session (target ≤ 20)', 's-idle', (r) => r.idle?.kbPerConnection, 1),
  );
}
b.cells = servers.map((s) => `${fmt(median(runs(s, 'a').map((r) => r.routing?.serverCpuPct)))} / ${fmt(median(runs(s, 'b').map((r) => r.routing?.serverCpuPct)))}`);
const problems = servers.map((s) => {
  let n = 0, failed = 0, count = 0;
  for (const sc of ['a', 'b', 'c', 'd-plain', 'd-scram', 'e', 'p', 's-off', 's-on', 's-idle']) for (const r of runs(s, sc)) {
    count++;
    n += sum(r.problems);
    failed += (r.logins?.failed ?? 0) + (r.idle?.failed ?? 0) + (r.routing?.disconnected ?? 0) + (r.routing?.errorsBounced ?? 0);
  }
  return count ? `${failed} / ${n}` : '–';
});
rows.push({ label: 'failed logins+drops+bounces / problems (all runs)', cells: problems });
const out = [];
out.push(`| metric (median of runs) | ${servers.join(' | ')} |`);
out.push(`|---|${servers.map(() => '---:').join('|')}|`);
// Rows of scenarios that did not run (every cell empty) are left out.
for (const r of rows) if (r.cells.some((c) => !/^[–\s/]*$/.test(c))) out.push(`| ${r.label} | ${r.cells.join(' | ')} |`);
console.log('\n' + out.join('\n'));
const incidents = `${dir}/incidents.txt`;
if (existsSync(incidents)) console.log('\nIncidents:\n' + readFileSync(incidents, 'utf8'));
console.log(`\nRaw results: ${dir}`);
EOF
