#!/usr/bin/env bash
# Two `cctv serve` nodes on one PostgreSQL database, against one node on the same database,
# all on this machine (the load generators and dashboards share the cores with the nodes).
#
#   benches/cluster.sh      # DURATION (s, default 30) and CONCURRENCY (default 32) from the environment
#   RUNS="one two" DASHBOARDS=0 benches/cluster.sh   # only some runs; no dashboard sockets
#
# Three runs, each on a fresh database ($CCTV_BENCH_PG_URL, a database it may wipe):
#   one   one node, the whole load;
#   two   two nodes, the load split between them, a dashboard WebSocket on each node;
#   kill  as `two`, node B SIGKILLed half-way; node A takes B's leased jobs after the lease.
# Each run prints the load generators' JSON, the events each dashboard heard, and the
# database's own counts: detections stored, the person-day total, jobs processed twice.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-30}
concurrency=${CONCURRENCY:-32}
half=$(( concurrency / 2 ))
runs=${RUNS:-one two kill}
dashboards=${DASHBOARDS:-1}
url=${CCTV_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/cctv_cluster_bench}
db=${url##*/}
cargo build --release -p cctv >&2
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/cctv")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

key() { python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'; }
export CCTV__DATABASE__URL="$url" CCTV__DATABASE__MAX_CONNECTIONS=8
export CCTV__SECURITY__ENCRYPTION_KEY=$(key) CCTV__STORAGE__SIGNING_KEY=$(key)
export CCTV__STORAGE__DIR="$work/storage" CCTV__LOG__DIR="$work/logs" CCTV__LOG__FILTER=warn
# A dead node's detection jobs go to the other node after this lease (default 60 s).
export CCTV__INGEST__LEASE_SECS=10 CCTV__INGEST__WORKERS=${WORKERS:-4}
export CCTV_BENCH_PASSWORD=cluster-bench-password
sql() { psql "$url" -qAt -c "$1"; }

fresh_database() {
    psql "${url%/*}/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >&2
    rm -rf "$work"/{seed,a,b,storage,logs}
    CCTV__DATA_DIR="$work/seed" "$bin" demo --json > "$work/estate.json"
    cred=$(CCTV__DATA_DIR="$work/seed" "$bin" credential create --name bench --rate-limit 1000000000 --json)
    api_key=$(echo "$cred" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
    api_secret=$(echo "$cred" | sed -E 's/.*"api_secret":"([^"]+)".*/\1/')
    echo "$CCTV_BENCH_PASSWORD" | CCTV__DATA_DIR="$work/seed" "$bin" user create \
        --email bench@cctv.local --name Bench --role admin --password-stdin >/dev/null
}

# start_node NAME PORT: a node with its own data directory; sets NODE_PID.
start_node() {
    CCTV__DATA_DIR="$work/$1" CCTV__LISTEN="127.0.0.1:$2" "$bin" serve >"$work/$1.log" 2>&1 &
    NODE_PID=$!
    for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$2/health" >/dev/null && return; sleep 0.1; done
    echo "node $1 did not start:" >&2; cat "$work/$1.log" >&2; exit 1
}

# listen PORT OUT: a dashboard WebSocket on the node, counting detection events.
listen() {
    if [ "$dashboards" = 0 ]; then echo '{"skipped": "DASHBOARDS=0"}' > "$2"; sleep 0 & return; fi
    "$bin" bench listen --addr "127.0.0.1:$1" --email bench@cctv.local \
        --max-secs $(( duration + 300 )) --idle-secs 20 > "$2" &
}

# load PORT CONCURRENCY OUT [--no-drain]
load() {
    "$bin" bench ingest --addr "127.0.0.1:$1" --estate "$work/estate.json" \
        --api-key "$api_key" --api-secret "$api_secret" --concurrency "$2" \
        --duration "$duration" --json "${@:4}" > "$3"
}

wait_until_processed() {
    for _ in $(seq 1 600); do
        [ "$(sql "SELECT count(*) FROM jobs WHERE queue = 'detections' AND status = 'queued'")" = 0 ] && return
        sleep 0.5
    done
    echo "detection jobs still queued after 300 s" >&2; exit 1
}

# The database's counts: every accepted detection stored once and counted once.
counts() {
    echo "stored detections:    $(sql 'SELECT count(*) FROM re_id_branch_detections')"
    echo "person-day total:     $(sql 'SELECT COALESCE(sum(total_actual_count), 0) FROM re_id_masters')"
    echo "jobs stored twice:    $(sql 'SELECT count(*) - count(DISTINCT job_id) FROM re_id_branch_detections')"
    echo "failed detection jobs: $(sql "SELECT count(*) FROM jobs WHERE queue = 'detections' AND status = 'failed'")"
}

run_one() {
echo "== one node, ${duration}s, ${concurrency} connections" >&2
fresh_database
start_node a 18081; a=$NODE_PID
listen 18081 "$work/one-ws.json"; ws=$!
sleep 1
load 18081 "$concurrency" "$work/one.json"
wait $ws || true
echo "-- load:"; cat "$work/one.json"
echo "-- dashboard:"; cat "$work/one-ws.json"
counts
kill $a; wait $a 2>/dev/null || true
}

run_two() {
echo "== two nodes, ${duration}s, ${half}+${half} connections" >&2
fresh_database
start_node a 18081; a=$NODE_PID
start_node b 18082; b=$NODE_PID
listen 18081 "$work/two-ws-a.json"; ws_a=$!
listen 18082 "$work/two-ws-b.json"; ws_b=$!
sleep 1
load 18081 "$half" "$work/two-a.json" & la=$!
load 18082 "$half" "$work/two-b.json" & lb=$!
wait $la $lb
wait $ws_a $ws_b || true
echo "-- load on A:"; cat "$work/two-a.json"
echo "-- load on B:"; cat "$work/two-b.json"
echo "-- dashboard on A:"; cat "$work/two-ws-a.json"
echo "-- dashboard on B:"; cat "$work/two-ws-b.json"
counts
kill $a $b; wait $a $b 2>/dev/null || true
}

run_kill() {
echo "== two nodes, B SIGKILLed after $(( duration / 2 ))s" >&2
fresh_database
start_node a 18081; a=$NODE_PID
start_node b 18082; b=$NODE_PID
load 18081 "$half" "$work/kill-a.json" --no-drain & la=$!
load 18082 "$half" "$work/kill-b.json" --no-drain & lb=$!
sleep $(( duration / 2 ))
kill -9 $b
wait $la; wait $lb || true
wait_until_processed
echo "-- load on A:"; cat "$work/kill-a.json"
echo "-- load on B (killed):"; cat "$work/kill-b.json"
accepted=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["accepted"] for f in sys.argv[1:]))' \
    "$work/kill-a.json" "$work/kill-b.json")
echo "accepted (202) on A and B: $accepted"
counts
kill $a; wait $a 2>/dev/null || true
}

for run in $runs; do "run_$run"; done
