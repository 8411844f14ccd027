#!/usr/bin/env bash
# Ingest benchmark: the release binary, a fresh database, the baseline server, then the
# load generator against `cctv serve`, all on this machine (the load generator shares the
# cores with the server, as the acceptance figures require).
#
#   benches/run.sh sqlite   [RATE]   # embedded SQLite in a temporary data dir
#   benches/run.sh postgres [RATE]   # PostgreSQL at $CCTV_BENCH_PG_URL (a database it may wipe)
#
# RATE: requests/s for a paced run (omit for as-fast-as-answered). DURATION (s) and
# CONCURRENCY come from the environment (defaults 60 and 64). BATCH=N posts N detections
# per request to /api/v1/detection/batch (an edge node uploading its backlog) instead of
# one per request; the baseline server is skipped then (it has no per-item answer to
# count), and the figures count detections, not requests:
#
#   BATCH=500 CONCURRENCY=8 DURATION=30 benches/run.sh sqlite
#
# CCTV_BIN=path runs a binary built elsewhere instead of building this checkout's (to
# compare two commits, e.g. both built with `--profile profiling` in their own target
# directories); BASELINE=0 skips the trivial-handler baseline. CCTV__LOG__FILTER sets the
# server's log filter (default warn) and SERVE_LOG=path keeps its log.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
rate=${2:-}
duration=${DURATION:-60}
concurrency=${CONCURRENCY:-64}
batch=${BATCH:-}
if [ -n "${CCTV_BIN:-}" ]; then
    bin=$CCTV_BIN
else
    cargo build --release -p cctv >&2
    bin=${CARGO_TARGET_DIR:-target}/release/cctv
fi
work=$(mktemp -d)
# The server is waited for: a run started right after this one must not find its database
# connections still open.
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
export CCTV__DATA_DIR="$work/data" CCTV__LISTEN=127.0.0.1:18080 CCTV__LOG__FILTER=${CCTV__LOG__FILTER:-warn}
if [ "$backend" = postgres ]; then
    url=${CCTV_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/cctv_bench}
    db=${url##*/}
    # FORCE: a server left from another run (killed, still closing) holds connections.
    psql "${url%/*}/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >&2
    export CCTV__DATABASE__URL="$url"
    # WORKERS=n sets the detection workers (default: the server's automatic choice).
    if [ -n "${WORKERS:-}" ]; then export CCTV__INGEST__WORKERS=$WORKERS; fi
fi
$bin demo --json > "$work/estate.json"
cred=$($bin credential create --name bench --rate-limit 1000000000 --json)
key=$(echo "$cred" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
secret=$(echo "$cred" | sed -E 's/.*"api_secret":"([^"]+)".*/\1/')

if [ -z "$batch" ] && [ "${BASELINE:-1}" != 0 ]; then
    echo "== baseline: trivial salvo handler, ${duration}s, ${concurrency} connections" >&2
    $bin bench baseline-server --listen 127.0.0.1:18090 >/dev/null &
    base_pid=$!
    sleep 0.5
    $bin bench ingest --addr 127.0.0.1:18090 --estate "$work/estate.json" --api-key x --api-secret y \
        --concurrency "$concurrency" --duration "$duration" --no-drain --json
    kill $base_pid; wait $base_pid 2>/dev/null || true
fi

echo "== cctv serve ($backend), ${duration}s, ${concurrency} connections, rate ${rate:-unlimited}${batch:+, batches of $batch}" >&2
$bin serve >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18080/health >/dev/null && break; sleep 0.1; done
$bin bench ingest --addr 127.0.0.1:18080 --estate "$work/estate.json" --api-key "$key" --api-secret "$secret" \
    --concurrency "$concurrency" --duration "$duration" ${rate:+--rate "$rate"} ${batch:+--batch "$batch"} --json
# The server's peak resident set size over the whole run (VmHWM), while it still runs.
echo "== cctv serve peak RSS: $(awk '/VmHWM/ {printf "%.1f MB", $2 / 1024}' "/proc/$serve_pid/status")" >&2
# The CPU time the server used, start-up and draining included (user + system): at a fixed
# RATE, the cost of a detection, steadier from run to run than the throughput of an
# unpaced run on a shared machine.
echo "== cctv serve CPU: $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f s", ($14 + $15) / hz}' "/proc/$serve_pid/stat")" >&2
# SERVE_LOG=path keeps the server's log (with CCTV__LOG__FILTER=warn,<target>=debug, the
# phase timings that BENCHMARKS.md reads).
if [ -n "${SERVE_LOG:-}" ]; then cp "$work/serve.log" "$SERVE_LOG"; fi
