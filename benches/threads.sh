#!/usr/bin/env bash
# Where an ingest run's CPU goes, thread by thread: how long each thread of `cctv serve`
# (and the load generator, all its threads together) ran on a core and how long it was
# runnable but waited for one, over a window in the middle of a `benches/run.sh` run. On
# two shared cores the second figure says who is starved (BENCHMARKS.md, sessions 25, 26).
#
#   benches/threads.sh sqlite             # 30 s unpaced, the window from second 12 to 22
#   CCTV_BIN=/tmp/cctv-before BATCH=500 CONCURRENCY=8 benches/threads.sh sqlite
#   benches/threads.sh postgres 4000      # any arguments and environment of benches/run.sh
#
# Figures are shares of one core (1.00 = a whole core) from /proc/<pid>/task/*/schedstat;
# threads below 0.01 are left out. DURATION defaults to 30 here; FROM and WINDOW set the
# window (defaults 12 and 10).
set -euo pipefail
cd "$(dirname "$0")/.."
from=${FROM:-12}
seconds=${WINDOW:-10}
out=$(mktemp)
trap 'rm -f "$out" "$out".*' EXIT
DURATION=${DURATION:-30} benches/run.sh "$@" >"$out" 2>&1 &
run=$!
sleep "$from"
# The binary benches/run.sh runs, so that another cctv on the machine is not measured.
bin=${CCTV_BIN:-${CARGO_TARGET_DIR:-target}/release/cctv}
server=$(pgrep -f -- "^$bin serve$" | head -1 || true)
if [ -z "$server" ]; then
    wait $run || true
    cat "$out" >&2
    echo "no cctv serve process found" >&2
    exit 1
fi
load_threads() { for p in $(pgrep -f -- "^$bin bench ingest " || true); do cat /proc/"$p"/task/*/schedstat; done; }
snapshot() { # tid name run_ns wait_ns, one line a thread of the server
    for t in /proc/"$server"/task/*; do
        echo "${t##*/} $(tr ' ' _ <"$t"/comm) $(cut -d' ' -f1,2 "$t"/schedstat)"
    done 2>/dev/null | sort
}
snapshot >"$out.0"
load0=$(load_threads | awk '{ r += $1; w += $2 } END { print r + 0, w + 0 }')
sleep "$seconds"
snapshot >"$out.1"
load1=$(load_threads | awk '{ r += $1; w += $2 } END { print r + 0, w + 0 }')
wait $run
echo "== cctv serve threads over ${seconds} s from second ${from} (share of one core):"
join "$out.0" "$out.1" | awk -v s="$seconds" '{ run = ($6 - $3) / s / 1e9; wait = ($7 - $4) / s / 1e9
    if (run >= 0.01) printf "%-8s %-18s on a core %.2f   waiting %.2f\n", $1, $2, run, wait }' | sort -k6 -rn
echo "$load0 $load1" | awk -v s="$seconds" '{ printf "load generator (all threads) on a core %.2f   waiting %.2f\n", ($3 - $1) / s / 1e9, ($4 - $2) / s / 1e9 }'
grep -E '^\{|^==' "$out" | grep -v baseline || true
