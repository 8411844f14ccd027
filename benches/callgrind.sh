#!/usr/bin/env bash
# Instructions per accepted detection on the request path, counted by callgrind: steady
# from run to run and whatever else the machine does, where the throughput of a short run
# on two shared cores moves by ±10 % (see BENCHMARKS.md).
#
#   benches/callgrind.sh                  # this checkout's profiling build
#   CCTV_BIN=/tmp/cctv-before benches/callgrind.sh
#   RATE=40 DURATION=25 benches/callgrind.sh   # the defaults: ~1,000 detections
#   BATCH=500 RATE=1 DURATION=20 benches/callgrind.sh   # batch uploads, one connection
#
# `cctv serve` (embedded SQLite, fresh data dir) runs under valgrind with instrumentation
# off while it starts; it is switched on for a paced load of the original fleet's request
# and off again once everything accepted is processed. The figures are the inclusive
# instruction counts of the request's handlers divided by the detections accepted.
# Processing runs in batches of a detection or two at this rate, so its figures here
# overstate what a detection costs under load; use them for the request path only.
# With BATCH=N each request is a batch upload of N detections (one connection), and
# processing runs in batches of about N: then the program total per detection is what
# a detection costs the whole server in large batches (BENCHMARKS.md, session 25).
# THREADS=1 counts each thread apart and prints each one's instructions per detection
# instead of the functions: which thread bounds a run (in batches, the main file's
# SQLite writer; see BENCHMARKS.md, session 26).
# KEEP=path keeps callgrind's output (with THREADS=1, KEEP=dir/ keeps one file a thread).
# Needs valgrind (callgrind_control, callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${RATE:-40}
duration=${DURATION:-25}
batch=${BATCH:-}
concurrency=4
if [ -n "$batch" ]; then concurrency=1; fi
if [ -n "${CCTV_BIN:-}" ]; then
    bin=$CCTV_BIN
else
    cargo build --profile profiling -p cctv >&2
    bin=${CARGO_TARGET_DIR:-target}/profiling/cctv
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export CCTV__DATA_DIR="$work/data" CCTV__LISTEN=127.0.0.1:18085 CCTV__LOG__FILTER=warn
addr=127.0.0.1:18085
$bin demo --json > "$work/estate.json"
cred=$($bin credential create --name bench --rate-limit 1000000000 --json)
key=$(echo "$cred" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
secret=$(echo "$cred" | sed -E 's/.*"api_secret":"([^"]+)".*/\1/')
valgrind --tool=callgrind --instr-atstart=no ${THREADS:+--separate-threads=yes} \
    --callgrind-out-file="$work/callgrind.out" \
    "$bin" serve > "$work/serve.log" 2>&1 &
vg=$!
for _ in $(seq 1 600); do curl -sf "http://$addr/health" >/dev/null && break; sleep 0.2; done
total() { curl -s "http://$addr/metrics" | awk -v m="$1" '$1 ~ "^"m {s += $2} END {print s + 0}'; }
sleep 2
callgrind_control -i on $vg >/dev/null 2>&1
$bin bench ingest --addr "$addr" --estate "$work/estate.json" --api-key "$key" --api-secret "$secret" \
    --concurrency "$concurrency" --duration "$duration" --rate "$rate" ${batch:+--batch "$batch"} \
    --no-drain --json > "$work/load.json"
# Under valgrind a large backlog takes minutes to process.
for _ in $(seq 1 600); do
    accepted=$(total cctv_detections_accepted_total)
    [ "$accepted" = "$(total cctv_detections_processed_total)" ] && break
    sleep 0.5
done
callgrind_control -i off $vg >/dev/null 2>&1
accepted=$(total cctv_detections_accepted_total)
kill -TERM $vg; wait $vg 2>/dev/null || true
if [ -n "${THREADS:-}" ]; then
    echo "== $bin: $accepted detections accepted; instructions per detection, by thread:"
    for f in "$work"/callgrind.out-*; do
        funcs=$(cd "$work" && callgrind_annotate --inclusive=yes --auto=no --threshold=100 \
            "${f##*/}" 2>/dev/null)
        # Told apart by what runs the thread (SQLite's own work shows in other threads'
        # listings only through the sqlx worker's channel, never as `sqlite3_step`).
        case "$funcs" in
            *multi_thread::worker::Context::run*) kind="tokio worker (HTTP, async side)" ;;
            *scheduler::current_thread*) kind="actix arbiter (batcher, workers)" ;;
            *sqlite3_step*) kind="SQLite connection (sqlx worker)" ;;
            *) kind="other" ;;
        esac
        echo "$funcs" | awk -v n="$accepted" -v k="$kind" -v f="${f##*/}" '/PROGRAM TOTALS/ {
            v = $1; gsub(",", "", v); if (n && v / n >= 100) printf "%9.0f  %-18s %s\n", v / n, f, k }'
    done | sort -rn | tee "$work/threads.txt"
    awk '{ s += $1 } END { printf "%9.0f  whole server\n", s }' "$work/threads.txt"
    if [ -n "${KEEP:-}" ]; then cp "$work"/callgrind.out-* "$KEEP"; fi
    exit 0
fi
echo "== $bin: $accepted detections accepted; inclusive instructions per detection:"
# Run outside the checkout: inside it, callgrind_annotate finds the sources and splits the
# figures by file differently.
(cd "$work" && callgrind_annotate --inclusive=yes --auto=no --threshold=100 callgrind.out \
    2>/dev/null > inclusive.txt)
[ -n "${KEEP:-}" ] && cp "$work/callgrind.out" "$KEEP"
per() { # label, the function's name as callgrind prints it: its largest inclusive count
    { grep -F "$2" "$work/inclusive.txt" | grep -v /rustc/ || true; } \
        | awk -v n="$accepted" -v l="$1" '{ v = $1; gsub(",", "", v); if (v + 0 > m) m = v + 0 }
            END { printf "%-44s %9.0f\n", l, (n ? m / n : 0) }'
}
awk -v n="$accepted" '/PROGRAM TOTALS/ { v = $1; gsub(",", "", v); printf "%-44s %9.0f\n", "whole server", (n ? v / n : 0) }' \
    "$work/inclusive.txt"
per "HTTP connection (hyper, salvo, handlers)" "UpgradeableConnection<I,S> as core::future::future::Future>::poll ["
per "  cctv-http hoops and handler" "cctv_http::Prelude as salvo_core::handler::Handler>::handle::{{closure}} ["
per "    POST /api/v1/detection/log" "log_detection as salvo_core::handler::Handler>::handle::{{closure}} ["
per "      accepting (auth, body, core use case)" "cctv_http::device::upload::accept::{{closure}} ["
per "      writing the 202" "cctv_http::envelope::render_reply ["
per "    POST /api/v1/detection/batch" "batch_detections as salvo_core::handler::Handler>::handle::{{closure}} ["
