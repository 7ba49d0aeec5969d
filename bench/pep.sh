#!/usr/bin/env bash
# PEP (XEP-0163) notifications on one Hearth: USERS accounts <PREFIX><i>, each with a roster of
# CONTACTS mutual contacts (bench/seed-rosters.ts, i ↔ i±1..±CONTACTS/2 mod USERS), all online
# with XEP-0115 caps saying +notify for urn:example:bench:pep, every account publishing to its
# own node (bench/c2s-load.ts --scenario pep). Each publish notifies the publisher's resource
# and each contact's: CONTACTS + 1 notifications. Two runs per repetition:
#
#   a  throughput: as fast as INFLIGHT publish iqs in flight per user allow (--rate 0)
#   b  latency at a steady RATE publishes/s in total (default: half the throughput of a, in
#      notifications/s, ÷ (CONTACTS + 1) notifications per publish)
#
# Reported: publishes/s acknowledged, notifications/s delivered, publish → notification
# latency (p50/p90/p99/max), delivered ÷ expected notifications, publish errors, and server
# CPU per notification. The server (PGlite by default, PostgreSQL with DB=postgres) is pinned
# to SERVER_CPU and the generator to GEN_CPU; every run starts a fresh server on a fresh copy
# of the seeded database (no PEP node exists yet, the caps are not known: the server asks one
# connection for them). Archiving is off (mam.defaultPolicy: never).
#
#   bench/pep.sh                          # PGlite, REPEAT=1
#   DB=postgres bench/pep.sh              # PostgreSQL (PG_URL, database PG_DB)
#   REPEAT=3 RATE=200 bench/pep.sh        # latency at 200 publishes/s = 10,200 notifications/s
#   PROFILE=1 bench/pep.sh                # plus one run of a and b with the server under
#                                         # node --cpu-prof, top self-time functions printed
#   HEARTH_REF=HEAD DB=postgres bench/pep.sh   # the last commit, whatever src/ holds now
#
# Knobs: DB (pglite | postgres), REPEAT (1), USERS (200), CONTACTS (50), PREFIX (pep),
# DURATION (20 s), WARMUP (3 s), INFLIGHT (2 publish iqs per user in run a), RATE (see b),
# MECHANISM (PLAIN), SERVER_CPU (0), GEN_CPU (1), PROFILE (0), NODE_FLAGS (extra node flags
# for the server, e.g. --max-semi-space-size=4 as `npm start` runs it; none by default, as
# in the other bench scripts), BUILD (1: npm run build in HEARTH_DIR first), HEARTH_DIR (this
# checkout: where bin/hearth.js, dist/ and src/ are), HEARTH_REF (a commit, e.g. HEAD: its
# tree is exported to .bench/pep-hearth-<commit>/ and built there, and HEARTH_DIR points to it,
# so the figures are those of that commit while src/ is being edited), PG_URL
# (postgres://postgres@127.0.0.1:5432), PG_DB (bench_pep; the seeded template is
# <PG_DB>_seed; both are dropped and recreated by each invocation, and dropped at the end).
# The server listens on 127.0.0.194, as setup A of bench/cluster.sh does: not both at once.
# Everything it writes lives in .bench/ (gitignored); results in .bench/results/pep-<db>-<time>/.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HEARTH_DIR=${HEARTH_DIR:-$ROOT}
HEARTH_REF=${HEARTH_REF:-}
BENCH=$ROOT/.bench
ADDR=127.0.0.194
DOMAIN=bench.example
DB=${DB:-pglite}
REPEAT=${REPEAT:-1}
USERS=${USERS:-200}
CONTACTS=${CONTACTS:-50}
PREFIX=${PREFIX:-pep}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
INFLIGHT=${INFLIGHT:-2}
RATE=${RATE:-}
MECHANISM=${MECHANISM:-PLAIN}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
PROFILE=${PROFILE:-0}
NODE_FLAGS=${NODE_FLAGS:-}
BUILD=${BUILD:-1}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-bench_pep}
PG_SEED=${PG_DB}_seed
case $DB in pglite | postgres) ;; *) echo "DB: pglite or postgres" >&2; exit 2 ;; esac
[[ $PG_DB =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "PG_DB: lowercase letters, digits and _" >&2; exit 2; }
[[ $RATE =~ ^[0-9]*$ ]] || { echo "RATE: a whole number of publishes/s" >&2; exit 2; }

RESULTS=$BENCH/results/pep-$DB-$(date +%Y%m%d-%H%M%S)
SEED_DATA=$BENCH/pep-seed-data
DATA=$BENCH/pep-data
mkdir -p "$RESULTS"
log() { printf '[pep %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# psql without the NOTICEs of DROP DATABASE IF EXISTS.
psql_() { PGOPTIONS='--client-min-messages=warning' psql "$@"; }
if [ "$(nproc)" -lt 2 ] && [ "$SERVER_CPU" != "$GEN_CPU" ]; then
  log "fewer than 2 cores: server and generator share core 0"
  SERVER_CPU=0 GEN_CPU=0
fi
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
log "results in ${RESULTS#"$ROOT"/}; database $DB"

config() { # data-dir -> path
  local file=$BENCH/pep-$(basename "$1").yaml
  cat >"$file" <<YAML
# Written by bench/pep.sh.
domains: [$DOMAIN]
dataDir: $1
log: {level: warn}
c2s: {listen: ["$ADDR:5222"], directTls: [], requireTls: false, allowPlaintextAuth: true}
s2s: {listen: ["$ADDR:5269"]}
admin: {listen: ["$ADDR:5281"]}
http: {listen: ["$ADDR:5280"]}
mam: {defaultPolicy: never}
YAML
  echo "$file"
}
# Runs the rest with DATABASE_URL set for PostgreSQL (database $1), or unset for PGlite.
with_db() { # database command...
  local db=$1
  shift
  if [ "$DB" = postgres ]; then env -u REDIS_URL DATABASE_URL="$PG_URL/$db" "$@"; else env -u REDIS_URL -u DATABASE_URL "$@"; fi
}

# The accounts and rosters, once per invocation, into a template (PGlite: a data directory;
# PostgreSQL: the database <PG_DB>_seed). The server is not running.
seed() {
  local cfg
  cfg=$(config "$SEED_DATA")
  rm -rf "$SEED_DATA"
  if [ "$DB" = postgres ]; then
    psql_ "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $PG_DB" -c "DROP DATABASE IF EXISTS $PG_SEED" -c "CREATE DATABASE $PG_SEED" >/dev/null || {
      log "cannot create database $PG_SEED at $PG_URL"
      return 1
    }
  fi
  log "seeding $USERS accounts $PREFIX<i>@$DOMAIN with $CONTACTS mutual contacts each"
  with_db "$PG_SEED" node --import tsx "$HEARTH_DIR/bench/seed-rosters.ts" --config "$cfg" --domain "$DOMAIN" \
    --users "$USERS" --contacts "$CONTACTS" --user-prefix "$PREFIX" >"$RESULTS/seed.log" 2>&1 || {
    log "seeding failed (see $RESULTS/seed.log)"
    return 1
  }
}
# A fresh copy of the template for one run.
fresh_state() {
  rm -rf "$DATA"
  if [ "$DB" = postgres ]; then
    mkdir -p "$DATA"
    psql_ "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB TEMPLATE $PG_SEED" >/dev/null
  else
    cp -a "$SEED_DATA" "$DATA"
  fi
}

PID=
start() { # [profile-dir]
  local cfg prof=() flags=() attempt i
  cfg=$(config "$DATA")
  [ -n "${1:-}" ] && prof=(--cpu-prof --cpu-prof-dir="$1")
  # shellcheck disable=SC2206 # NODE_FLAGS: words on purpose
  [ -n "$NODE_FLAGS" ] && flags=($NODE_FLAGS)
  local dbenv=(-u DATABASE_URL)
  [ "$DB" = postgres ] && dbenv=(DATABASE_URL="$PG_URL/$PG_DB")
  # A server that exits at once (a port still held, by whatever) is started again, twice.
  for attempt in 1 2 3; do
    # Not through a shell function: $! must be the node process itself (env and taskset exec).
    env -u REDIS_URL "${dbenv[@]}" taskset -c "$SERVER_CPU" node "${flags[@]}" "${prof[@]}" "$HEARTH_DIR/bin/hearth.js" start --config "$cfg" >>"$RESULTS/hearth.log" 2>&1 &
    PID=$!
    for ((i = 0; i < 600; i++)); do
      listening "$ADDR" && return 0
      kill -0 "$PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$PID" 2>/dev/null; then
      log "hearth (pid $PID) is not listening after 60 s (see $RESULTS/hearth.log)"
      return 1
    fi
    { wait "$PID"; } 2>/dev/null
    log "hearth exited at start (attempt $attempt; see $RESULTS/hearth.log): $(ss -Hltnp "src $ADDR" 2>/dev/null | tr '\n' ' ' | cut -c1-300)"
    PID=
    sleep 3
  done
  return 1
}
stop() {
  [ -z "$PID" ] && return 0
  kill -TERM "$PID" 2>/dev/null
  wait_gone "$PID" 20 || { log "hearth (pid $PID) did not stop in 20 s; SIGKILL"; kill -KILL "$PID" 2>/dev/null; }
  { wait "$PID"; } 2>/dev/null
  PID=
}
trap stop EXIT
trap 'stop; exit 130' INT TERM

# field <json-file> <python expression on r>
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null || echo nan; }

# One run: fresh state, fresh server, the generator. Leaves <name>.json in $RESULTS.
measure() { # name [profile-dir] -- generator-args...
  local name=$1 profile=$2
  shift 3
  local out=$RESULTS/$name.json
  fresh_state || { log "$name: could not prepare the database"; return 1; }
  start "$profile" || { stop; return 1; }
  sleep 1
  taskset -c "$GEN_CPU" node --import tsx "$ROOT/bench/c2s-load.ts" --scenario pep --host "$ADDR" --domain "$DOMAIN" \
    --users "$USERS" --contacts "$CONTACTS" --user-prefix "$PREFIX" --mechanism "$MECHANISM" \
    --duration "$DURATION" --warmup "$WARMUP" --server-pid "$PID" --json "$@" >"$out" 2>"$RESULTS/$name.err"
  local rc=$?
  kill -0 "$PID" 2>/dev/null || { log "$name: the server died during the run"; echo "$name: server died" >>"$RESULTS/incidents.txt"; }
  stop
  [ $rc -ne 0 ] && log "$name: generator exit $rc ($(tr '\n' ' ' <"$RESULTS/$name.err" | cut -c1-300))"
  log "$name: $(field "$out" "f\"{r['pep']['publishes']['ackedPerSecond']} publishes/s, {r['pep']['notifications']['perSecond']} notifications/s, p99 {r['pep']['latency']['p99Ms']} ms, delivered {r['pep']['notifications']['deliveredRatio']}, errors {r['pep']['publishes']['total']['errors']}\"")"
  return 0
}

# The steady rate of run b: RATE, else half run a's notifications/s ÷ (CONTACTS + 1).
half_rate() { # throughput-json
  if [ -n "$RATE" ]; then echo "$RATE"; return; fi
  local r
  r=$(field "$1" "max(1, round(r['pep']['notifications']['perSecond'] / 2 / ($CONTACTS + 1)))")
  [[ $r =~ ^[0-9]+$ ]] || r=100
  echo "$r"
}

if [ -n "$HEARTH_REF" ]; then
  commit=$(git rev-parse --verify "$HEARTH_REF^{commit}") || { log "HEARTH_REF: no commit $HEARTH_REF"; exit 2; }
  HEARTH_DIR=$BENCH/pep-hearth-${commit:0:12}
  if [ ! -f "$HEARTH_DIR/dist/cli.js" ]; then
    log "exporting $commit to ${HEARTH_DIR#"$ROOT"/}"
    rm -rf "$HEARTH_DIR" && mkdir -p "$HEARTH_DIR" && git archive "$commit" | tar -x -C "$HEARTH_DIR" || exit 1
    ln -s "$ROOT/node_modules" "$HEARTH_DIR/node_modules"
    BUILD=1
  fi
  log "Hearth from commit $commit"
fi
if [ "$BUILD" = 1 ]; then
  log "building Hearth in $HEARTH_DIR (npm run build)"
  (cd "$HEARTH_DIR" && npm run build >"$RESULTS/build.log" 2>&1) || log "npm run build failed (see $RESULTS/build.log); using the existing dist/"
fi
log "Hearth from $HEARTH_DIR"
if [ "$DB" = postgres ]; then
  psql_ "$PG_URL/postgres" -qAtc 'select 1' >/dev/null || { log "no PostgreSQL at $PG_URL"; exit 1; }
fi
seed || exit 1
START=$SECONDS
for run in $(seq 1 "$REPEAT"); do
  measure "a-$run" '' -- --rate 0 --in-flight "$INFLIGHT"
  measure "b-$run" '' -- --rate "$(half_rate "$RESULTS/a-$run.json")"
done
if [ "$PROFILE" = 1 ]; then
  measure a-profile "$RESULTS/prof-a" -- --rate 0 --in-flight "$INFLIGHT"
  measure b-profile "$RESULTS/prof-b" -- --rate "$(half_rate "$RESULTS/a-1.json")"
fi
if [ "$DB" = postgres ]; then
  psql_ "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $PG_DB" -c "DROP DATABASE IF EXISTS $PG_SEED" >/dev/null
fi
log "done in $((SECONDS - START)) s"

# Every run and the medians, one Markdown table; with PROFILE=1 the top self-time functions
# of the server over each profiled run's measured window.
node --input-type=module - "$RESULTS" "$DB" <<'EOF'
import { existsSync, readdirSync, readFileSync } from 'node:fs';
const [dir, db] = process.argv.slice(2);
const files = readdirSync(dir);
const load = (f) => { try { return JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')); } catch { return null; } };
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const fmt = (x, d = 0) => (x === null || x === undefined ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const runs = (kind) => files.filter((f) => new RegExp(`^${kind}-\\d+\\.json$`).test(f)).sort((a, b) => parseInt(a.slice(2)) - parseInt(b.slice(2))).map((f) => [f.replace('.json', ''), load(f)]).filter(([, r]) => r?.pep);
const row = (name, r) => {
  const p = r.pep;
  const mode = p.mode === 'steady' ? `steady ${fmt(p.targetRate)} pub/s` : `${p.inFlightPerUser} in flight/user`;
  const errs = p.publishes.total.errors + p.publishes.unansweredAtEnd;
  const n = p.notifications;
  return `| ${name} | ${mode} | ${fmt(p.publishes.ackedPerSecond)} | ${fmt(n.perSecond)} | ${n.deliveredRatio === null ? '–' : fmt(n.deliveredRatio, 4)} (${n.missing} missing, ${n.duplicates} dup) | ${fmt(p.latency.p50Ms, 1)} | ${fmt(p.latency.p90Ms, 1)} | ${fmt(p.latency.p99Ms, 1)} | ${fmt(p.latency.maxMs, 1)} | ${fmt(p.serverCpuPct)} | ${fmt(p.serverCpuUsPerNotification, 1)} | ${fmt(p.otherCpuPct)} | ${errs} |`;
};
const a = runs('a');
const b = runs('b');
const out = [];
const first = (a[0] ?? b[0])?.[1];
if (first) {
  const p = first.pep;
  out.push(`Hearth on ${db === 'postgres' ? 'PostgreSQL' : 'PGlite'}: ${p.users} users × ${p.contacts} mutual contacts, ${p.contacts + 1} notifications per publish, ${p.warmupSeconds} s warm-up + ${p.measuredSeconds} s measured per run`);
  out.push('');
  out.push('| run | mode | publishes/s acked | notifications/s | delivered ÷ expected | p50 ms | p90 ms | p99 ms | max ms | server CPU % | server CPU µs/notification | other CPU % | publish errors + unanswered |');
  out.push('|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, r] of [...a, ...b]) out.push(row(name, r));
  const med = (rs, pick) => median(rs.map(([, r]) => pick(r.pep)));
  if (a.length > 1 || b.length > 1) {
    for (const [label, rs] of [['a (median)', a], ['b (median)', b]]) {
      if (rs.length === 0) continue;
      out.push(`| ${label} | | ${fmt(med(rs, (p) => p.publishes.ackedPerSecond))} | ${fmt(med(rs, (p) => p.notifications.perSecond))} | ${fmt(med(rs, (p) => p.notifications.deliveredRatio), 4)} | ${fmt(med(rs, (p) => p.latency.p50Ms), 1)} | ${fmt(med(rs, (p) => p.latency.p90Ms), 1)} | ${fmt(med(rs, (p) => p.latency.p99Ms), 1)} | ${fmt(med(rs, (p) => p.latency.maxMs), 1)} | ${fmt(med(rs, (p) => p.serverCpuPct))} | ${fmt(med(rs, (p) => p.serverCpuUsPerNotification), 1)} | ${fmt(med(rs, (p) => p.otherCpuPct))} | |`);
    }
  }
  out.push('');
  const tput = med(a, (p) => p.notifications.perSecond);
  const p99 = med(b, (p) => p.latency.p99Ms);
  const bRate = med(b, (p) => p.notifications.perSecond);
  if (tput !== null) out.push(`throughput (a): ${fmt(tput)} notifications/s — target ≥ 20,000: ${tput >= 20000 ? 'met' : 'MISSED'}`);
  if (p99 !== null) out.push(`p99 latency (b, ${fmt(bRate)} notifications/s${tput ? `, ${fmt((100 * bRate) / tput)}% of a` : ''}): ${fmt(p99, 1)} ms — target < 50 ms: ${p99 < 50 ? 'met' : 'MISSED'}`);
  const caps = [...a, ...b].map(([, r]) => r.pep.caps.discoQueries);
  out.push(`caps queries answered per run: ${caps.join(', ')}; generator CPU % (a): ${[...a].map(([, r]) => fmt(r.pep.generatorCpuPct)).join(', ')}`);
}
// CPU profiles: self time over the measured window (V8's profile timestamps and the
// generator's window are both CLOCK_MONOTONIC µs).
for (const kind of ['a', 'b']) {
  const d = `${dir}/prof-${kind}`;
  if (!existsSync(d)) continue;
  const profs = readdirSync(d).filter((f) => f.endsWith('.cpuprofile')).map((f) => `${d}/${f}`);
  const r = load(`${kind}-profile.json`);
  const win = r?.pep?.windowMonotonicUs;
  const self = new Map();
  let total = 0;
  let idle = 0;
  for (const file of profs) {
    const prof = JSON.parse(readFileSync(file, 'utf8'));
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    let t = prof.startTime;
    prof.samples.forEach((id, i) => {
      t += prof.timeDeltas[i] ?? 0;
      if (win && (t < win.from || t > win.to)) return;
      const us = prof.timeDeltas[i + 1] ?? 0;
      const cf = byId.get(id).callFrame;
      if (cf.functionName === '(idle)') { idle += us; return; }
      const where = cf.url ? `${cf.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, '')}:${cf.lineNumber + 1}` : '';
      const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
      self.set(key, (self.get(key) ?? 0) + us);
      total += us;
    });
  }
  if (total === 0) continue;
  const p = r?.pep;
  out.push('');
  out.push(`Top self time, run ${kind} profiled${p ? ` (${fmt(p.notifications.perSecond)} notifications/s, p99 ${fmt(p.latency.p99Ms, 1)} ms under the profiler)` : ''}, ${win ? 'measured window' : 'whole run'}: ${fmt(total / 1e6, 1)} s busy + ${fmt(idle / 1e6, 1)} s idle sampled:`);
  for (const [k, us] of [...self].sort((x, y) => y[1] - x[1]).slice(0, 25)) out.push(`  ${fmt((100 * us) / total, 1).padStart(5)}%  ${k}`);
}
console.log('\n' + out.join('\n'));
if (existsSync(`${dir}/incidents.txt`)) console.log('\nIncidents:\n' + readFileSync(`${dir}/incidents.txt`, 'utf8'));
console.log(`\nRaw results: ${dir}`);
EOF
