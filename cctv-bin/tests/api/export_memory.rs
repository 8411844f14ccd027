//! "Exporting 1,000,000 detections stays under 200 MB of memory" (issue 5), measured on
//! the real binary: a migrated SQLite data dir gets a million detections (with their
//! person-days and event logs) by one `INSERT … SELECT` over a recursive CTE, then
//! `cctv report export --kind detections` runs as a child process for CSV and XLSX while
//! its peak resident set (`VmHWM` of /proc/<pid>/status, polled every 10 ms) is recorded.
//! Both files are read back and checked row by row count and spot values.
//!
//! `CCTV_EXPORT_ROWS` changes the row count (default 1,000,000); `benches/export_memory.sh`
//! runs this test on a release build and records the figures in BENCHMARKS.md.

use std::io::{BufRead, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

/// The acceptance limit.
const LIMIT_KB: u64 = 200 * 1024;
/// 2026-11-01T00:00:00Z; row `i` is detected `i` seconds later.
const BASE: i64 = 1_793_491_200;
const PERSONS: i64 = 5000;

fn rows_wanted() -> i64 {
    std::env::var("CCTV_EXPORT_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn cctv(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cctv"));
    cmd.env("CCTV__DATA_DIR", data_dir)
        .env("CCTV__TIMEZONE", "UTC")
        .env("RUST_LOG", "warn");
    cmd
}

/// Branches 1 and 2 with devices CAM-0 (branch 1) and CAM-1 (branch 2); `n` detections
/// (id `i`: person `P{i % 5000}`, device `CAM-{i % 2}`), one event log each, and the
/// person-days they make.
async fn seed(db: &Path, n: i64) {
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let now = "2026-11-01T00:00:00.000000Z";
    let setup = format!(
        "INSERT INTO company_groups (id, province_code, province_name, group_name, created_at, updated_at)
           VALUES (1, 'JKT', 'DKI Jakarta', 'Jakarta', '{now}', '{now}');
         INSERT INTO company_branches (id, group_id, branch_code, branch_name, city, created_at, updated_at)
           VALUES (1, 1, 'B1', 'Branch One', 'Jakarta', '{now}', '{now}'),
                  (2, 1, 'B2', 'Branch, \"Two\"', 'Jakarta', '{now}', '{now}');
         INSERT INTO device_masters (id, device_id, device_name, branch_id, created_at, updated_at)
           VALUES (1, 'CAM-0', 'Gate', 1, '{now}', '{now}'), (2, 'CAM-1', 'Lobby', 2, '{now}', '{now}');"
    );
    sqlx::raw_sql(&setup).execute(&mut conn).await.unwrap();
    let detections = format!(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO re_id_branch_detections (id, re_id, branch_id, device_id, detection_timestamp,
             detection_date, detection_hour, detected_count, detection_data, job_id, created_at, updated_at)
         SELECT i, 'P' || (i % {PERSONS}), 1 + i % 2, 'CAM-' || (i % 2),
                strftime('%Y-%m-%dT%H:%M:%S.000000Z', {BASE} + i, 'unixepoch'),
                strftime('%Y-%m-%d', {BASE} + i, 'unixepoch'),
                CAST(strftime('%H', {BASE} + i, 'unixepoch') AS INTEGER),
                1 + i % 3, '{{\"confidence\":0.9,\"seq\":' || i || '}}', 'job-' || i, '{now}', '{now}'
         FROM n;
         INSERT INTO event_logs (id, branch_id, device_id, re_id, event_type, detected_count,
             event_timestamp, event_date, detection_id, created_at, updated_at)
         SELECT id, branch_id, device_id, re_id, 'detection', detected_count,
                detection_timestamp, detection_date, id, created_at, updated_at
         FROM re_id_branch_detections;
         INSERT INTO re_id_branch_days (re_id, detection_date, branch_id)
         SELECT DISTINCT re_id, detection_date, branch_id FROM re_id_branch_detections;
         INSERT INTO re_id_masters (re_id, detection_date, first_detected_at, last_detected_at,
             total_detection_branch_count, total_actual_count, created_at, updated_at)
         SELECT re_id, detection_date, min(detection_timestamp), max(detection_timestamp),
                count(DISTINCT branch_id), sum(detected_count), '{now}', '{now}'
         FROM re_id_branch_detections GROUP BY re_id, detection_date;
         COMMIT;"
    );
    sqlx::raw_sql(&detections).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs the export; returns its peak RSS in kB and how long it took.
fn export(data_dir: &Path, format: &str, out: &Path) -> (u64, Duration) {
    let started = Instant::now();
    let mut child = cctv(data_dir)
        .args([
            "report",
            "export",
            "--kind",
            "detections",
            "--format",
            format,
        ])
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cctv report export");
    let mut peak = 0;
    let status = loop {
        // VmHWM is the high-water mark, so a sample taken late still holds earlier peaks.
        if let Some(kb) = vm_hwm_kb(child.id()) {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "export failed: {stderr}");
    // Off a terminal the progress is plain lines, the last one the total.
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("export: {} rows, ", rows_wanted())) && !stderr.contains('\r'),
        "progress as plain lines: {stderr}"
    );
    (peak, started.elapsed())
}

/// Fields of one CSV record (RFC 4180 quoting; these records hold no line breaks).
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') => quoted = true,
            (false, ',') => out.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quote in {line:?}");
    out.push(field);
    out
}

fn time_of(i: i64) -> String {
    jiff::Timestamp::from_second(BASE + i).unwrap().to_string()
}

/// The expected cells of detection `i`.
fn expected(i: i64) -> Vec<String> {
    let (branch, name, device, device_name) = if i % 2 == 1 {
        ("2", "Branch, \"Two\"", "CAM-1", "Lobby")
    } else {
        ("1", "Branch One", "CAM-0", "Gate")
    };
    let at = jiff::Timestamp::from_second(BASE + i).unwrap();
    vec![
        i.to_string(),
        time_of(i),
        jiff::tz::TimeZone::UTC.to_datetime(at).date().to_string(),
        format!("P{}", i % PERSONS),
        branch.into(),
        name.into(),
        device.into(),
        device_name.into(),
        (1 + i % 3).to_string(),
        format!("{{\"confidence\":0.9,\"seq\":{i}}}"),
    ]
}

fn check_csv(path: &Path, n: i64) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut count = 0i64;
    for (k, line) in file.split(b'\n').enumerate() {
        let line = String::from_utf8(line.unwrap()).unwrap();
        let line = line.strip_suffix('\r').expect("CRLF record ends");
        let k = k as i64;
        if k == 0 {
            assert_eq!(fields(line)[0], "ID");
            assert_eq!(fields(line).len(), 10);
            continue;
        }
        count += 1;
        // Row k is detection k: ids and times grow together. Spot-check a spread of rows
        // fully; every row's id and order.
        if k == 1 || k == n || k % 99_991 == 0 {
            assert_eq!(fields(line), expected(k), "row {k}");
        } else {
            let id = line.split(',').next().unwrap();
            assert_eq!(id, k.to_string(), "row {k} in order");
        }
    }
    assert_eq!(count, n, "one record per detection");
}

/// Text of cell `col` (A, B, …) in the row element `row_xml`.
fn cell(row_xml: &str, col: &str, row: i64) -> String {
    let start = row_xml
        .find(&format!("<c r=\"{col}{row}\""))
        .unwrap_or_else(|| panic!("no cell {col}{row}"));
    let rest = &row_xml[start..];
    let end = rest.find("</c>").unwrap();
    let c = &rest[..end];
    let open = if c.contains("t=\"inlineStr\"") {
        "<t>"
    } else {
        "<v>"
    };
    let close = if open == "<t>" { "</t>" } else { "</v>" };
    let v = c.split(open).nth(1).unwrap().split(close).next().unwrap();
    v.replace("&quot;", "\"").replace("&amp;", "&")
}

fn check_xlsx(path: &Path, n: i64) {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut xml = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    assert!(
        zip.by_name("xl/worksheets/sheet2.xml").is_err(),
        "a million rows fit one sheet"
    );
    let rows: Vec<&str> = xml.split("<row ").skip(1).collect();
    assert_eq!(rows.len() as i64, n + 1, "header and one row per detection");
    assert_eq!(cell(rows[0], "A", 1), "ID");
    for k in [1, n / 2, n] {
        let row = rows[k as usize];
        let want = expected(k);
        let got: Vec<String> = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"]
            .iter()
            .map(|c| cell(row, c, k + 1))
            .collect();
        assert_eq!(got, want, "row {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_a_million_detections_stays_under_200_mb() {
    let n = rows_wanted();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = cctv(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    seed(&dir.path().join("cctv.db"), n).await;
    let seeded = started.elapsed();

    let csv = dir.path().join("detections.csv");
    let (csv_kb, csv_time) = export(dir.path(), "csv", &csv);
    let xlsx = dir.path().join("detections.xlsx");
    let (xlsx_kb, xlsx_time) = export(dir.path(), "xlsx", &xlsx);
    eprintln!(
        "{n} detections: seeded in {seeded:.1?}; CSV {} MB in {csv_time:.1?}, peak RSS {} MB; \
         XLSX {} MB in {xlsx_time:.1?}, peak RSS {} MB",
        std::fs::metadata(&csv).unwrap().len() / 1_000_000,
        csv_kb / 1024,
        std::fs::metadata(&xlsx).unwrap().len() / 1_000_000,
        xlsx_kb / 1024,
    );
    assert!(csv_kb > 0 && xlsx_kb > 0, "the samples were taken");
    assert!(csv_kb < LIMIT_KB, "CSV export peaked at {csv_kb} kB");
    assert!(xlsx_kb < LIMIT_KB, "XLSX export peaked at {xlsx_kb} kB");

    let check = Instant::now();
    check_csv(&csv, n);
    check_xlsx(&xlsx, n);
    eprintln!("read back in {:.1?}", check.elapsed());
}
