#!/usr/bin/env bash
# Import benchmark: builds a database of the original (Laravel) system with DETECTIONS
# detections (and their event logs and person-days) in a fresh PostgreSQL schema, then
# times `cctv import laravel` into a fresh target.
#
#   benches/import.sh [DETECTIONS]               # default 1,000,000; target: embedded SQLite
#   TARGET=postgres benches/import.sh 1000000    # target: a fresh schema of the same server
#   PG_URL=postgres://… benches/import.sh        # default postgres://postgres@127.0.0.1:5432/test
#
# Detections are spread over 30 days and drawn from 20,000 persons at 7 branches and 12
# devices. Prints the seeding time, the import's own summary and the import rate (source
# detections per second of the whole command, reports included).
set -euo pipefail
cd "$(dirname "$0")/.."
detections=${1:-1000000}
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
cargo build --release -p cctv >&2
bin=$(realpath "${CARGO_TARGET_DIR:-target}")/release/cctv
work=$(mktemp -d)
source_schema="laravel_bench_$$"
target_schema="cctv_bench_$$"
cleanup() {
    psql -q "$pg" -c "DROP SCHEMA IF EXISTS $source_schema CASCADE; DROP SCHEMA IF EXISTS $target_schema CASCADE" || true
    rm -rf "$work"
}
trap cleanup EXIT
sep='?'; [[ "$pg" == *'?'* ]] && sep='&'
source_url="${pg}${sep}options=-c%20search_path%3D${source_schema}"

started=$(date +%s.%N)
psql -q -v ON_ERROR_STOP=1 "$pg" <<SQL
CREATE SCHEMA $source_schema;
SET search_path = $source_schema;
\i cctv-bin/tests/api/laravel_import/original_schema.sql
INSERT INTO company_groups (province_code, province_name, group_name)
VALUES ('JKT', 'DKI Jakarta', 'Jakarta'), ('JBR', 'Jawa Barat', 'West Java'), ('JTM', 'Jawa Timur', 'East Java');
INSERT INTO company_branches (group_id, branch_code, branch_name, city)
SELECT 1 + (b % 3), 'BR' || lpad(b::text, 3, '0'), 'Branch ' || b, 'City ' || b FROM generate_series(1, 7) AS b;
INSERT INTO device_masters (device_id, device_name, branch_id)
SELECT 'CAM_' || lpad(d::text, 3, '0'), 'Camera ' || d, 1 + (d % 7) FROM generate_series(1, 12) AS d;
INSERT INTO re_id_branch_detections (re_id, branch_id, device_id, detection_timestamp, detection_data)
SELECT 'REID_' || ((i::bigint * 7919) % 20000), 1 + ((i % 12) % 7), 'CAM_' || lpad((1 + i % 12)::text, 3, '0'),
       timestamp '2026-10-01 07:00:00' + ((i % 30) || ' days')::interval + (((i * 37) % 50400) || ' seconds')::interval,
       '{"confidence": 0.9}'::jsonb
FROM generate_series(1, $detections) AS i;
INSERT INTO event_logs (branch_id, device_id, re_id, detected_count, event_data, event_timestamp)
SELECT branch_id, device_id, re_id, 1, detection_data, detection_timestamp FROM re_id_branch_detections;
INSERT INTO re_id_masters (re_id, detection_date, total_actual_count, total_detection_branch_count, first_detected_at, last_detected_at)
SELECT re_id, detection_timestamp::date, count(*), count(DISTINCT branch_id), min(detection_timestamp), max(detection_timestamp)
FROM re_id_branch_detections GROUP BY re_id, detection_timestamp::date;
ANALYZE;
SQL
seeded=$(date +%s.%N)
echo "seeded $detections detections in $(echo "$seeded - $started" | bc) s" >&2

export CCTV__DATA_DIR="$work/data" CCTV__LOG__FILTER=warn
if [ "${TARGET:-sqlite}" = postgres ]; then
    psql -q "$pg" -c "CREATE SCHEMA $target_schema"
    export CCTV__DATABASE__URL="${pg}${sep}options=-c%20search_path%3D${target_schema}"
fi
begin=$(date +%s.%N)
$bin import laravel --database-url "$source_url" --batch 2000
end=$(date +%s.%N)
elapsed=$(echo "$end - $begin" | bc)
echo "import of $detections detections into ${TARGET:-sqlite}: ${elapsed} s, $(echo "$detections / $elapsed" | bc) detections/s"
# The person-days must add up to the source's detections, day by day.
check="SELECT detection_date, count(*), sum(total_actual_count) FROM re_id_masters GROUP BY 1 ORDER BY 1"
want=$(psql -At "$source_url" -c "SELECT detection_timestamp::date, count(DISTINCT re_id), count(*) FROM re_id_branch_detections GROUP BY 1 ORDER BY 1")
if [ "${TARGET:-sqlite}" = postgres ]; then
    got=$(psql -At "$CCTV__DATABASE__URL" -c "$check")
else
    got=$(sqlite3 "$work/data/cctv.db" "$check")
fi
if [ "$got" = "$want" ]; then echo "person-days per day equal the source's recount"; else echo "MISMATCH with the source's recount"; diff <(echo "$want") <(echo "$got") | head; exit 1; fi
