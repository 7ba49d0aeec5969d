#!/usr/bin/env bash
# Cluster benchmark: what clustering on Redis costs per routed message, and how fast a dead
# node is noticed. PostgreSQL and Redis must run locally (neither is started or stopped
# here). The message scenario of bench/c2s-load.ts (USERS accounts in pairs 0↔1, 2↔3, …,
# each keeping INFLIGHT chat messages in flight to its partner, WARMUP s unmeasured then
# DURATION s measured, then it stops) runs against:
#
#   A   one node without cluster.redis (PostgreSQL only)                      127.0.0.194
#   B   one node with cluster.redis (every message routed inside the node)   127.0.0.195
#   C1  two nodes of one cluster, every pair on one node (half on each)      127.0.0.192 + .193
#   C2  the same two nodes, every pair split: every message crosses nodes    127.0.0.192 + .193
#   C2S (not in the default set) C2 with every account also bound, idle, on the other node
#       (c2s-load --shadow): per-account state a node keeps only for accounts with a local
#       session (the blocklist) is then in memory on both, which isolates the cost of the
#       Redis hop from the per-message database reads a cross-node message causes otherwise
#
# Per run: routed messages/s, p99 latency, and CPU time per routed message, the utime+stime
# (/proc/<pid>/stat) of the Hearth processes plus the shared redis-server between the start
# and the end of the measured window, divided by the messages delivered in it. The
# generator's own CPU is not counted, nor PostgreSQL's. Then node death: two nodes with
# cluster.ttlS = DEATH_TTL, a client on node 1 whose mutual contact is online on node 2;
# node 2 is killed with SIGKILL and the time until the client on node 1 receives the
# contact's unavailable presence is measured (bench/cluster-death.ts).
#
#   bench/cluster.sh                                  # everything, 3 runs of each setup
#   REPEAT=1 DURATION=5 bench/cluster.sh A C2         # some setups only
#   DEATH_ONLY=1 bench/cluster.sh                     # just the death detection
#   PROFILE=1 bench/cluster.sh C1 C2                  # plus one run each under node --cpu-prof
#
# Knobs: REPEAT (3), DURATION (10 s), WARMUP (2 s), USERS (1000), INFLIGHT (2), RATE (0: as
# fast as INFLIGHT allows; >0 a steady total rate instead), ARCHIVE (never: mam.defaultPolicy
# never, so routing is what is measured; "always" archives every message twice, the server's
# default), TTL (10: cluster.ttlS of the message runs), DEATH (1), DEATH_REPEAT (3),
# DEATH_TTL (10), NODE_CPU (0: both nodes of C and the node of A/B), GEN_CPU (1),
# PROFILE (0), BUILD (1: npm run build first), HEARTH_DIR (this checkout: where bin/hearth.js
# and dist/ are, e.g. a build of a fixed commit while src/ changes), PG_URL
# (postgres://postgres@127.0.0.1:5432), PG_DB (hearth_cluster_bench; a template
# <PG_DB>_seed holds the accounts, each run gets a fresh copy), REDIS_DB (14: the only Redis
# database used, FLUSHDB before each run), HEARTH_EXTRA_YAML (appended to every node's config).
# Everything it writes lives in .bench/ (gitignored); results in .bench/results/cluster-<time>/.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
HEARTH_DIR=${HEARTH_DIR:-$ROOT}
BENCH=$ROOT/.bench
DOMAIN=bench.example
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
USERS=${USERS:-1000}
INFLIGHT=${INFLIGHT:-2}
RATE=${RATE:-0}
ARCHIVE=${ARCHIVE:-never}
TTL=${TTL:-10}
DEATH=${DEATH:-1}
DEATH_ONLY=${DEATH_ONLY:-0}
DEATH_REPEAT=${DEATH_REPEAT:-3}
DEATH_TTL=${DEATH_TTL:-10}
NODE_CPU=${NODE_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
PROFILE=${PROFILE:-0}
BUILD=${BUILD:-1}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-hearth_cluster_bench}
PG_SEED=${PG_DB}_seed
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
REDIS_DB=${REDIS_DB:-14}
CLUSTER_REDIS=redis://$REDIS_HOST:$REDIS_PORT/$REDIS_DB
ADDR_A=127.0.0.194
ADDR_B=127.0.0.195
ADDR_N1=127.0.0.192
ADDR_N2=127.0.0.193

ALL_SETUPS=(A B C1 C2)
SETUPS=("$@")
[ ${#SETUPS[@]} -eq 0 ] && SETUPS=("${ALL_SETUPS[@]}")
[ "$DEATH_ONLY" = 1 ] && SETUPS=() && DEATH=1
for s in "${SETUPS[@]}"; do
  case $s in A | B | C1 | C2 | C2S) ;; *) echo "unknown setup '$s' (expected: ${ALL_SETUPS[*]})" >&2; exit 2 ;; esac
done
case $ARCHIVE in never | always | roster) ;; *) echo "ARCHIVE: never, always or roster" >&2; exit 2 ;; esac
[[ $REDIS_DB =~ ^[0-9]+$ ]] || { echo "REDIS_DB: a database number" >&2; exit 2; }
[[ $PG_DB =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "PG_DB: lowercase letters, digits and _" >&2; exit 2; }

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$BENCH/results/cluster-$STAMP
mkdir -p "$RESULTS"
log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "results in ${RESULTS#"$ROOT"/}; Hearth from $HEARTH_DIR"

rcli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" -n "$REDIS_DB" "$@"; }
REDIS_PID=$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
if [ -z "$REDIS_PID" ] || [ ! -r "/proc/$REDIS_PID/stat" ]; then
  log "no redis-server at $REDIS_HOST:$REDIS_PORT whose /proc/<pid>/stat this machine shows"
  exit 1
fi
log "redis-server pid $REDIS_PID (its CPU is read, never signalled); cluster database $CLUSTER_REDIS"
psql "$PG_URL/postgres" -qAtc 'select 1' >/dev/null || { log "no PostgreSQL at $PG_URL"; exit 1; }

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# ---- database and Redis ---------------------------------------------------------------------

# A node's configuration. cluster.redis only when a redis URL is given.
node_config() { # name addr redis-url-or-empty ttl -> path
  local name=$1 addr=$2 redis=$3 ttl=$4 file=$BENCH/cluster-$1.yaml cluster=''
  [ -n "$redis" ] && cluster="cluster: {redis: \"$redis\", nodeId: $name, ttlS: $ttl}"
  cat >"$file" <<EOF
# Written by bench/cluster.sh.
domains: [$DOMAIN]
dataDir: $BENCH/cluster-$name-data
log: {level: warn}
c2s: {listen: ["$addr:5222"], directTls: [], requireTls: false, allowPlaintextAuth: true}
s2s: {listen: ["$addr:5269"]}
admin: {listen: ["$addr:5281"]}
http: {listen: ["$addr:5280"]}
mam: {defaultPolicy: $ARCHIVE}
$cluster
${HEARTH_EXTRA_YAML:-}
EOF
  echo "$file"
}

# The accounts, once, into a template database: USERS bench<i> and the two death<i>
# (mutual contacts). Every run starts from a fresh copy, so archives and offline messages
# of one run never weigh on the next.
seed() {
  log "seeding $PG_SEED: $USERS accounts bench<i>, and death0 ↔ death1"
  psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $PG_DB" -c "DROP DATABASE IF EXISTS $PG_SEED" -c "CREATE DATABASE $PG_SEED" >/dev/null || return 1
  local config
  config=$(node_config seed 127.0.0.1 '' "$TTL")
  node --import tsx "$ROOT/bench/accounts.ts" --domain "$DOMAIN" --users "$USERS" |
    env -u REDIS_URL DATABASE_URL="$PG_URL/$PG_SEED" node "$HEARTH_DIR/bin/hearth.js" user import --config "$config" >"$RESULTS/seed.log" 2>&1 || {
    log "account import failed (see $RESULTS/seed.log)"
    return 1
  }
  env -u REDIS_URL DATABASE_URL="$PG_URL/$PG_SEED" node --import tsx "$HEARTH_DIR/bench/seed-rosters.ts" --config "$config" --domain "$DOMAIN" \
    --users 2 --contacts 1 --user-prefix death >>"$RESULTS/seed.log" 2>&1 || {
    log "seeding death0/death1 failed (see $RESULTS/seed.log)"
    return 1
  }
}
fresh_state() {
  psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB TEMPLATE $PG_SEED" >/dev/null || return 1
  [ "$(rcli FLUSHDB)" = OK ] || { log "FLUSHDB on Redis database $REDIS_DB failed"; return 1; }
}

# ---- nodes ----------------------------------------------------------------------------------

declare -A NODE_PID=()
start_node() { # name addr redis-url-or-empty ttl [profile-dir]
  local name=$1 addr=$2 config prof=()
  config=$(node_config "$1" "$2" "$3" "$4")
  [ -n "${5:-}" ] && prof=(--cpu-prof --cpu-prof-dir="$5")
  rm -rf "$BENCH/cluster-$name-data"
  # Not through a shell function: $! must be the node process itself (env and taskset exec).
  env -u REDIS_URL DATABASE_URL="$PG_URL/$PG_DB" taskset -c "$NODE_CPU" node "${prof[@]}" "$HEARTH_DIR/bin/hearth.js" start --config "$config" \
    >>"$RESULTS/node-$name.log" 2>&1 &
  NODE_PID[$name]=$!
  wait_listening "$addr" 60
}
stop_node() { # name
  local pid=${NODE_PID[$1]:-}
  [ -z "$pid" ] && return 0
  kill -TERM "$pid" 2>/dev/null
  wait_gone "$pid" 20 || { log "node $1 (pid $pid) did not stop in 20 s; SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
  { wait "$pid"; } 2>/dev/null
  unset "NODE_PID[$1]"
}
stop_all() { local n; for n in "${!NODE_PID[@]}"; do stop_node "$n"; done; }
trap 'stop_all' EXIT
trap 'stop_all; exit 130' INT TERM

# Errors and warnings a node logged during a run, kept as incidents.
check_log() { # name label
  local f=$RESULTS/node-$1.log n
  [ -f "$f" ] || return 0
  n=$(grep -c '"level":[4-6]0' "$f")
  if [ "$n" -gt 0 ]; then
    log "$2: node $1 logged $n warnings/errors (see $f)"
    { echo "== $2 node $1: $n warning/error lines, first 5:"; grep '"level":[4-6]0' "$f" | head -5 | cut -c1-600; } >>"$RESULTS/incidents.txt"
  fi
}

# One message run: fresh database and Redis, start the setup's nodes, run the generator.
measure() { # setup run [profile]
  local setup=$1 run=$2 profile=${3:-} prof1='' prof2='' hosts=() pids names=()
  local out=$RESULTS/$setup.$run.json
  [ -n "$profile" ] && out=$RESULTS/$setup.profile.json && prof1=$RESULTS/prof-$setup-node1 && prof2=$RESULTS/prof-$setup-node2
  fresh_state || return 1
  local label="$setup run $run${profile:+ (profiled)}"
  for f in "$RESULTS"/node-*.log; do [ -f "$f" ] && mv "$f" "$f.prev"; done
  case $setup in
  A) start_node a "$ADDR_A" '' "$TTL" "$prof1" && names=(a) && hosts=(--host "$ADDR_A") ;;
  B) start_node b "$ADDR_B" "$CLUSTER_REDIS" "$TTL" "$prof1" && names=(b) && hosts=(--host "$ADDR_B") ;;
  C1 | C2 | C2S)
    start_node n1 "$ADDR_N1" "$CLUSTER_REDIS" "$TTL" "$prof1" && start_node n2 "$ADDR_N2" "$CLUSTER_REDIS" "$TTL" "$prof2" && names=(n1 n2)
    local placement=same
    [ "$setup" != C1 ] && placement=cross
    hosts=(--host "$ADDR_N1" --host2 "$ADDR_N2" --placement "$placement")
    [ "$setup" = C2S ] && hosts+=(--shadow)
    ;;
  esac
  if [ ${#names[@]} -eq 0 ]; then
    log "$label: a node did not start (see $RESULTS/node-*.log)"
    for f in "$RESULTS"/node-*.log; do { echo "== $label: did not start, $f:"; tail -5 "$f"; } >>"$RESULTS/incidents.txt"; done
    stop_all
    return 1
  fi
  sleep 1
  pids=$(for n in "${names[@]}"; do printf '%s,' "${NODE_PID[$n]}"; done)$REDIS_PID
  echo "$pids" >"$RESULTS/$setup.$run.pids"
  local mode=(--in-flight "$INFLIGHT")
  [ "$RATE" != 0 ] && mode=(--rate "$RATE")
  taskset -c "$GEN_CPU" node --import tsx "$ROOT/bench/c2s-load.ts" --domain "$DOMAIN" "${hosts[@]}" --server-pid "$pids" --json \
    --users "$USERS" "${mode[@]}" --duration "$DURATION" --warmup "$WARMUP" >"$out" 2>"${out%.json}.err"
  local rc=$?
  for n in "${names[@]}"; do
    kill -0 "${NODE_PID[$n]}" 2>/dev/null || { log "$label: node $n (pid ${NODE_PID[$n]}) died during the run"; echo "$label: node $n died" >>"$RESULTS/incidents.txt"; }
  done
  stop_all
  for n in "${names[@]}"; do cp "$RESULTS/node-$n.log" "$RESULTS/$setup.$run.node-$n.log" 2>/dev/null; check_log "$n" "$label"; done
  [ $rc -ne 0 ] && log "$label: generator exit $rc ($(tr '\n' ' ' <"${out%.json}.err" | cut -c1-200))"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).routing;
    if (r) console.error(`  ${r.perSecond} msg/s, p99 ${r.latency.p99Ms} ms, ${(r.serverCpuSeconds / r.received * 1e6).toFixed(1)} µs CPU/msg, unanswered ${r.unansweredAtEnd}, bounced ${r.errorsBounced}`);
  ' "$out" 2>&1 | while read -r line; do log "$label:$line"; done
  return 0
}

# Node death: node 1 and node 2 with cluster.ttlS = DEATH_TTL; death0 on node 1 watches
# death1 on node 2, which is killed (SIGKILL, by bench/cluster-death.ts, the pid we started).
death_run() { # run
  local run=$1 out=$RESULTS/death.$1.json
  fresh_state || return 1
  for f in "$RESULTS"/node-*.log; do [ -f "$f" ] && mv "$f" "$f.prev"; done
  if ! { start_node n1 "$ADDR_N1" "$CLUSTER_REDIS" "$DEATH_TTL" && start_node n2 "$ADDR_N2" "$CLUSTER_REDIS" "$DEATH_TTL"; }; then
    log "death run $run: a node did not start"
    stop_all
    return 1
  fi
  sleep 1
  # Kill at a random point of node 2's heartbeat cycle (every TTL/3).
  local settle
  settle=$(awk -v s="$RANDOM" -v t="$DEATH_TTL" 'BEGIN { printf "%.2f", 1 + (s / 32768) * t / 3 }')
  # (stderr of the group: bash would report node 2's SIGKILL as a "Killed" job)
  {
    taskset -c "$GEN_CPU" node --import tsx "$ROOT/bench/cluster-death.ts" --host1 "$ADDR_N1" --host2 "$ADDR_N2" --domain "$DOMAIN" \
      --node2-pid "${NODE_PID[n2]}" --ttl "$DEATH_TTL" --settle "$settle" --timeout $((DEATH_TTL * 3 + 10)) >"$out" 2>"${out%.json}.err"
    # Node 2 was killed: collect it (bounded), whatever the script managed.
    wait_gone "${NODE_PID[n2]}" 5 || kill -KILL "${NODE_PID[n2]}"
    wait "${NODE_PID[n2]}"
  } 2>/dev/null
  unset "NODE_PID[n2]"
  stop_all
  cp "$RESULTS/node-n1.log" "$RESULTS/death.$run.node-n1.log" 2>/dev/null
  log "death run $run: $(cat "$out")"
}

# ---- main -------------------------------------------------------------------------------------

if [ "$BUILD" = 1 ]; then
  log "building Hearth in $HEARTH_DIR (npm run build)"
  (cd "$HEARTH_DIR" && npm run build >"$RESULTS/build.log" 2>&1) || log "npm run build failed (see $RESULTS/build.log); using the existing dist/"
fi
seed || exit 1
START=$SECONDS
for ((r = 1; r <= REPEAT; r++)); do
  for s in "${SETUPS[@]}"; do measure "$s" "$r"; done
done
if [ "$PROFILE" = 1 ]; then
  for s in "${SETUPS[@]}"; do measure "$s" 1 profile; done
fi
if [ "$DEATH" = 1 ]; then
  for ((r = 1; r <= DEATH_REPEAT; r++)); do death_run "$r"; done
fi
rcli FLUSHDB >/dev/null # leave nothing of ours in Redis database $REDIS_DB
log "done in $((SECONDS - START)) s"

# Medians, ratios, and (PROFILE=1) the top self-time functions per setup.
node --input-type=module - "$RESULTS" "$ARCHIVE" "${SETUPS[@]}" <<'EOF'
import { readFileSync, readdirSync, existsSync } from 'node:fs';
const [dir, archive, ...setups] = process.argv.slice(2);
const files = readdirSync(dir);
const load = (f) => { try { return JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')); } catch { return null; } };
const runs = (setup) => files.filter((f) => new RegExp(`^${setup}\\.\\d+\\.json$`).test(f)).map(load).filter((r) => r?.routing);
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const fmt = (x, d = 0) => (x === null ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const perMsg = (r) => (r.routing.received > 0 ? (r.routing.serverCpuSeconds / r.routing.received) * 1e6 : null);
// The last pid is redis-server's (bench/cluster.sh passes it last).
const redisPerMsg = (r) => {
  const by = r.routing.serverCpuSecondsByPid;
  return by && r.routing.received > 0 ? (by[by.length - 1] / r.routing.received) * 1e6 : null;
};
const label = { A: 'A: 1 node, no cluster', B: 'B: 1 node, cluster.redis', C1: 'C1: 2 nodes, pairs on one node', C2: 'C2: 2 nodes, pairs across nodes', C2S: 'C2S: as C2, each account also idle on the other node' };
const out = [];
const first = setups.map(runs).flat()[0];
if (first) {
  const o = first.options;
  out.push(`${o.users} users (${o.users / 2} pairs), ${o.rate > 0 ? `steady ${o.rate} msg/s` : `${o.inFlight} in flight per sender`}, ${o.warmup} s warm-up + ${o.duration} s measured; mam.defaultPolicy ${archive}`);
  out.push('');
  out.push('| setup (median of runs) | runs | msg/s | p99 ms | CPU µs/msg (Hearth + redis) | of which redis | server CPU % | other CPU % | unanswered / bounced / problems |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---|');
}
const cpu = {};
for (const s of setups) {
  const rs = runs(s);
  if (rs.length === 0) { out.push(`| ${label[s]} | 0 | – | – | – | – | – | – | – |`); continue; }
  cpu[s] = median(rs.map(perMsg));
  const bad = rs.reduce((a, r) => [a[0] + r.routing.unansweredAtEnd, a[1] + r.routing.errorsBounced, a[2] + Object.values(r.problems).reduce((x, y) => x + y, 0)], [0, 0, 0]);
  out.push(`| ${label[s]} | ${rs.length} | ${fmt(median(rs.map((r) => r.routing.perSecond)))} | ${fmt(median(rs.map((r) => r.routing.latency.p99Ms)), 2)} | ${fmt(cpu[s], 1)} | ${fmt(median(rs.map(redisPerMsg)), 1)} | ${fmt(median(rs.map((r) => r.routing.serverCpuPct)))} | ${fmt(median(rs.map((r) => r.routing.otherCpuPct)))} | ${bad.join(' / ')} |`);
}
const ratio = (a, b, target) => (cpu[a] != null && cpu[b] != null ? `${fmt(cpu[a] / cpu[b], 2)} (target ≤ ${target})` : '–');
if (first) out.push('');
if (first) out.push(`cross-node ÷ same-node CPU/msg (C2 ÷ C1): ${ratio('C2', 'C1', '2')}`);
if (first) out.push(`cluster same-node ÷ no-cluster CPU/msg (B ÷ A): ${ratio('B', 'A', '1.10')}`);
if (cpu.C2S != null) out.push(`cross-node with every account on both nodes ÷ same-node CPU/msg (C2S ÷ C1): ${ratio('C2S', 'C1', '2')}`);
const per = files.filter((f) => /^[A-C][12]?S?\.\d+\.json$/.test(f)).sort();
if (per.length) {
  out.push('');
  out.push('Every run: ' + per.map((f) => {
    const r = load(f);
    return r?.routing ? `${f.replace('.json', '')} ${fmt(r.routing.perSecond)} msg/s p99 ${r.routing.latency.p99Ms} ms ${fmt(perMsg(r), 1)} µs` : `${f} (no routing)`;
  }).join('; '));
}
const deaths = files.filter((f) => /^death\.\d+\.json$/.test(f)).sort().map(load).filter(Boolean);
if (deaths.length) {
  out.push('');
  const ms = deaths.map((d) => d.unavailableAfterMs);
  out.push(`node death (ttlS ${deaths[0].ttlS}), SIGKILL of node 2 → unavailable presence on node 1: ${ms.map((m) => (m == null ? 'none' : `${fmt(m / 1000, 2)} s`)).join(', ')}` +
    `; median ${fmt(median(ms) / 1000, 2)} s, max ${fmt(Math.max(...ms.map((m) => m ?? Infinity)) / 1000, 2)} s (target ≤ ttl + 1 s = ${deaths[0].ttlS + 1} s)` +
    (deaths.some((d) => d.error) ? `; errors: ${deaths.filter((d) => d.error).map((d) => d.error).join('; ')}` : ''));
}
// CPU profiles (PROFILE=1): top self time per setup over the measured window only (V8's
// profile timestamps and the generator's window are both CLOCK_MONOTONIC µs), all of the
// setup's Hearth processes together.
for (const s of setups) {
  const profs = [1, 2].flatMap((n) => {
    const d = `${dir}/prof-${s}-node${n}`;
    return existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.cpuprofile')).map((f) => `${d}/${f}`) : [];
  });
  if (profs.length === 0) continue;
  const win = load(`${s}.profile.json`)?.routing?.windowMonotonicUs;
  const self = new Map();
  let total = 0;
  let idle = 0;
  for (const p of profs) {
    const prof = JSON.parse(readFileSync(p, 'utf8'));
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    let t = prof.startTime;
    prof.samples.forEach((id, i) => {
      t += prof.timeDeltas[i] ?? 0;
      if (win && (t < win.from || t > win.to)) return;
      const us = prof.timeDeltas[i + 1] ?? 0; // the time until the next sample
      const cf = byId.get(id).callFrame;
      if (cf.functionName === '(idle)') { idle += us; return; }
      const where = cf.url ? `${cf.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, '')}:${cf.lineNumber + 1}` : '';
      const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
      self.set(key, (self.get(key) ?? 0) + us);
      total += us;
    });
  }
  out.push('');
  out.push(`Top self time, ${label[s]} (profiled run, ${profs.length} process(es), ${win ? 'measured window' : 'whole run'}: ${fmt(total / 1e6, 1)} s busy + ${fmt(idle / 1e6, 1)} s idle sampled):`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) out.push(`  ${fmt((100 * us) / total, 1).padStart(5)}%  ${k}`);
}
console.log('\n' + out.join('\n'));
if (existsSync(`${dir}/incidents.txt`)) console.log('\nIncidents (warnings/errors the nodes logged):\n' + readFileSync(`${dir}/incidents.txt`, 'utf8'));
console.log(`\nRaw results: ${dir}`);
EOF
