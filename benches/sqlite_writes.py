#!/usr/bin/env python3
"""Instructions the SQLite writer's tables cost per detection, without the server.

Builds a fresh database from migrations/sqlite (optionally stopping before a migration),
then writes detections the way processing does, in transactions of 100, one multi-row
statement per table: the membership and person-day upserts, the detection and event-log
rows (with BEFORE=20261206000024, the schema before a counted detection's row became its
job's completion, also the completed-job rows it wrote then). Run it under callgrind for a count that does not move from run to run:

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.new \\
        "$(python3 -c 'import sys; print(sys.executable)')" benches/sqlite_writes.py
    BEFORE=20261206000023 valgrind … (the schema before that migration)

then compare `callgrind_annotate /tmp/cg.*` totals. The Python driver's own share is the
same in both, so the difference is SQLite's. Environment: N detections (30,000),
PERSONS distinct re-ids (50,000, as `cctv bench ingest`; fewer persons means more
detections per membership, as a camera that sees each person many times), DB path.
Uses the system's SQLite through Python, not the one cctv links: compare schemas with
it, not absolute figures with the server's.
"""
import glob, os, random, sqlite3, time

n = int(os.environ.get("N", "30000"))
persons = int(os.environ.get("PERSONS", "50000"))
before = os.environ.get("BEFORE")
path = os.environ.get("DB", "/tmp/cctv-sqlite-writes.db")
branches, batch, now = 4, 100, "2026-12-06T08:00:00.000000Z"
here = os.path.dirname(os.path.abspath(__file__))
for f in glob.glob(path + "*"):
    os.remove(f)
db = sqlite3.connect(path, isolation_level=None)
for f in sorted(glob.glob(os.path.join(here, "..", "migrations", "sqlite", "*.sql"))):
    if before and os.path.basename(f) >= before:
        break
    db.executescript(open(f).read())
for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-16384",
               "foreign_keys=ON", "soft_heap_limit=16777216"):
    db.execute("PRAGMA " + pragma)


def insert(table, values):
    """A row of `values`, other NOT NULL columns without a default filled in."""
    row = dict(values)
    for _, name, typ, notnull, default, pk in db.execute(f"PRAGMA table_info({table})"):
        if name not in row and notnull and default is None and not pk:
            row[name] = 1 if "INT" in typ.upper() else "x"
    marks = ",".join("?" * len(row))
    db.execute(f"INSERT INTO {table} ({','.join(row)}) VALUES ({marks})", list(row.values()))


insert("company_groups", {"id": 1})
for b in range(1, branches + 1):
    insert("company_branches", {"id": b, "group_id": 1, "branch_code": f"B{b}"})
    insert("device_masters", {"id": b, "device_id": f"dev-{b}", "branch_id": b})


def many(head, tail, rows):
    """One multi-row statement, as processing writes a batch: `head SELECT * FROM (VALUES
    …) tail` (`WHERE true` lets SQLite parse an upsert after a SELECT)."""
    marks = "(" + ",".join("?" * len(rows[0])) + ")"
    values = ",".join([marks] * len(rows))
    db.execute(f"{head}SELECT * FROM (VALUES {values}) WHERE true {tail}",
               [v for row in rows for v in row])


# Before the detection row answered for its job, processing wrote a completed job row.
job_rows = bool(before) and before <= "20261206000024"


def result(r):
    """A completed job's result, as processing wrote it."""
    return (f'{{"job_id":"{r[10]}","outcome":"counted","detection_date":"{r[5]}",'
            f'"detection_id":{r[0]},"event_log_id":{r[0]}}}')


rnd = random.Random(1)
data = '{"bbox":[10,20,30,40],"confidence":0.93,"camera":"cam-1","zone":"entrance"}'
started = time.process_time()
for start in range(0, n, batch):
    rows = []
    for i in range(start, min(start + batch, n)):
        b = rnd.randrange(1, branches + 1)
        at = f"2026-12-06T08:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i % 100:06d}Z"
        # Job ids are UUID v7 text: they sort by creation time.
        rows.append((i + 1, f"person-{rnd.randrange(persons):06d}", b, f"dev-{b}", at,
                     "2026-12-06", 8, 1, data, None, f"019aef12-{i // 4096:04x}-7{i % 4096:03x}-abcd-ef0123456789",
                     now, now))
    db.execute("BEGIN IMMEDIATE")
    many("INSERT INTO re_id_branch_days (re_id, detection_date, branch_id, counted, first_detected_at, "
         "last_detected_at, detections) ", "ON CONFLICT DO UPDATE SET detections = detections + 1, "
         "last_detected_at = max(last_detected_at, excluded.last_detected_at)",
         [(r[1], r[5], r[2], 1, r[4], r[4], 1) for r in rows])
    many("INSERT INTO re_id_masters (re_id, detection_date, detection_time, first_detected_at, "
         "last_detected_at, total_detection_branch_count, total_actual_count, status, created_at, "
         "updated_at) ", "ON CONFLICT (re_id, detection_date) DO UPDATE SET "
         "total_actual_count = total_actual_count + 1, "
         "last_detected_at = max(last_detected_at, excluded.last_detected_at), updated_at = excluded.updated_at",
         [(r[1], r[5], r[4], r[4], r[4], 1, 1, "active", now, now) for r in rows])
    if job_rows:
        many("INSERT INTO re_id_branch_detections (id, re_id, branch_id, device_id, detection_timestamp, "
             "detection_date, detection_hour, detected_count, detection_data, person_features, job_id, "
             "created_at, updated_at) ", "", rows)
    else:
        many("INSERT INTO re_id_branch_detections (id, re_id, branch_id, device_id, detection_timestamp, "
             "detection_date, detection_hour, detected_count, detection_data, person_features, job_id, "
             "created_at, updated_at, credential_id, received_at, event_log_id) ", "",
             [r + (1, now, r[0]) for r in rows])
    many("INSERT INTO event_logs (id, branch_id, device_id, re_id, event_type, detected_count, event_data, "
         "event_timestamp, event_date, detection_id, job_id, created_at, updated_at) ", "",
         [(r[0], r[2], r[3], r[1], "detection", 1, r[8], r[4], r[5], r[0], r[10], now, now) for r in rows])
    if job_rows:
        many("INSERT INTO jobs (id, queue, kind, priority, payload, status, attempts, max_attempts, "
             "available_at, result, credential_id, created_at, updated_at, finished_at) ", "",
             [(r[10], "detections", "detection", 5, "{}", "completed", 1, 5, now, result(r), 1, now, now, now)
              for r in rows])
    db.execute("COMMIT")
memberships = db.execute("SELECT count(*) FROM re_id_branch_days").fetchone()[0]
cpu = time.process_time() - started
print(f"{n} detections, {memberships} memberships ({n / memberships:.2f} detections each), "
      f"{cpu / n * 1e6:.1f} µs CPU per detection, schema {'before ' + before if before else 'current'}")
