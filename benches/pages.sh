#!/usr/bin/env bash
# Page-time benchmark: seed a large detection history through the device API (the same
# load generator as benches/run.sh), then log in and time every main page.
#
#   benches/pages.sh [DETECTIONS]          # default 1,000,000 detections, fresh temp dir
#   SEED_DIR=/some/dir benches/pages.sh    # keep the seeded estate there; a later run with
#                                          # the same SEED_DIR skips seeding and reuses it
#   SPREAD_DAYS=7 benches/pages.sh         # detections spread over the last 7 days (default:
#                                          # all today, the worst case for today's pages)
#   SPREAD_DAYS=30 VISITS=100000 PERSONS=20000 benches/pages.sh
#                                          # drawn from 100,000 visits of 20,000 persons (several
#                                          # detections per visit, as cameras see people; the
#                                          # visitor analytics' case)
#   CCTV_BIN=/tmp/cctv-before benches/pages.sh   # another build instead of this checkout's
#
# Prints the number of detections in the database and p50/p95/max per page (ms).
set -euo pipefail
cd "$(dirname "$0")/.."
detections=${1:-1000000}
if [ -n "${CCTV_BIN:-}" ]; then
    bin=$(realpath "$CCTV_BIN")
else
    cargo build --release -p cctv >&2
    bin=$(realpath "${CARGO_TARGET_DIR:-target}")/release/cctv
fi
if [ -n "${SEED_DIR:-}" ]; then
    work=$SEED_DIR
    mkdir -p "$work"
    trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
else
    work=$(mktemp -d)
    trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
fi
export CCTV__DATA_DIR="$work/data" CCTV__LISTEN=127.0.0.1:18081 CCTV__LOG__FILTER=warn
if [ ! -f "$work/bench.env" ]; then
    $bin demo --json > "$work/estate.json"
    cred=$($bin credential create --name bench --rate-limit 1000000000 --json)
    password="bench-$(date +%s)-pw"
    echo "$password" | $bin user create --email bench@cctv.local --name Bench --role admin --password-stdin >&2
    {
        echo "key=$(echo "$cred" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')"
        echo "secret=$(echo "$cred" | sed -E 's/.*"api_secret":"([^"]+)".*/\1/')"
        echo "password=$password"
        echo "seeded=0"
    } > "$work/bench.env"
fi
# shellcheck disable=SC1091
. "$work/bench.env"
export CCTV_BENCH_PASSWORD=$password

$bin serve >"$work/serve.log" 2>&1 &
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18081/health >/dev/null && break; sleep 0.1; done
if [ "$seeded" = 0 ]; then
    echo "== seeding: $detections detections through the device API" >&2
    $bin bench ingest --addr 127.0.0.1:18081 --estate "$work/estate.json" --api-key "$key" --api-secret "$secret" \
        --concurrency 64 --total "$detections" --duration 36000 --spread-days "${SPREAD_DAYS:-0}" \
        --visits "${VISITS:-0}" --persons "${PERSONS:-50000}" --json >&2
    sed -i 's/^seeded=0$/seeded=1/' "$work/bench.env"
fi
total=$(curl -sf "http://127.0.0.1:18081/api/v1/detections?per_page=1" -H "X-API-Key: $key" -H "X-API-Secret: $secret" \
    | sed -E 's/.*"total":([0-9]+).*/\1/')
echo "== detections in the database: $total" >&2
$bin bench pages --addr 127.0.0.1:18081 --email bench@cctv.local --rounds "${ROUNDS:-20}"
