#!/usr/bin/env bash
# Page-time benchmark: seed a large detection history through the device API (the same
# load generator as benches/run.sh), then log in and time every main page.
#
#   benches/pages.sh [SEED_SECS]    # default 300 s of ingest (≈1M detections at ~4k/s)
#
# Prints the number of detections in the database and p50/p95/max per page (ms).
set -euo pipefail
cd "$(dirname "$0")/.."
seed_secs=${1:-300}
cargo build --release -p cctv >&2
bin=target/release/cctv
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export CCTV__DATA_DIR="$work/data" CCTV__LISTEN=127.0.0.1:18081 CCTV__LOG__FILTER=warn
$bin demo --json > "$work/estate.json"
cred=$($bin credential create --name bench --rate-limit 1000000000 --json)
key=$(echo "$cred" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
secret=$(echo "$cred" | sed -E 's/.*"api_secret":"([^"]+)".*/\1/')
export CCTV_BENCH_PASSWORD="bench-$(date +%s)-pw"
echo "$CCTV_BENCH_PASSWORD" | $bin user create --email bench@cctv.local --name Bench --role admin --password-stdin >&2

$bin serve >"$work/serve.log" 2>&1 &
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18081/health >/dev/null && break; sleep 0.1; done
echo "== seeding: ${seed_secs}s of ingest" >&2
$bin bench ingest --addr 127.0.0.1:18081 --estate "$work/estate.json" --api-key "$key" --api-secret "$secret" \
    --concurrency 64 --duration "$seed_secs" --json >&2
total=$(curl -sf "http://127.0.0.1:18081/api/v1/detections?per_page=1" -H "X-API-Key: $key" -H "X-API-Secret: $secret" \
    | sed -E 's/.*"total":([0-9]+).*/\1/')
echo "== detections in the database: $total" >&2
$bin bench pages --addr 127.0.0.1:18081 --email bench@cctv.local --rounds "${ROUNDS:-20}"
