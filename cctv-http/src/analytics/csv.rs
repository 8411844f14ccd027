//! The analytics tables as CSV files: one header row, one row per entry. Branch names are
//! the only text from users; they pass through the export's formula neutralising.

use cctv_admin::analytics::{DwellReport, Flow, FrequencyBucket, HeatCell, VisitDay};
use cctv_admin::export::{CsvWriter, neutralise};
use salvo::Response;
use salvo::http::StatusCode;
use salvo::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};

fn table(headers: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut csv = CsvWriter::new(Vec::new());
    // Writing to memory cannot fail.
    let _ = csv.record(headers.iter().copied());
    for row in rows {
        let _ = csv.record(row.iter().map(String::as_str));
    }
    csv.into_inner()
}

pub(super) fn visits(days: &[VisitDay]) -> Vec<u8> {
    table(
        &["date", "unique_persons", "new_persons", "returning_persons"],
        days.iter().map(|d| {
            vec![
                d.date.to_string(),
                d.unique_persons.to_string(),
                d.new_persons.to_string(),
                d.returning_persons.to_string(),
            ]
        }),
    )
}

pub(super) fn dwell(report: &DwellReport) -> Vec<u8> {
    table(
        &["from_seconds", "to_seconds", "visits"],
        report.histogram.iter().map(|b| {
            vec![
                b.from_seconds.to_string(),
                b.to_seconds.map(|s| s.to_string()).unwrap_or_default(),
                b.visits.to_string(),
            ]
        }),
    )
}

pub(super) fn flows(flows: &[Flow]) -> Vec<u8> {
    table(
        &[
            "from_branch_id",
            "from_branch_name",
            "to_branch_id",
            "to_branch_name",
            "persons",
        ],
        flows.iter().map(|f| {
            vec![
                f.from_branch_id.to_string(),
                neutralise(&f.from_branch_name).into_owned(),
                f.to_branch_id.to_string(),
                neutralise(&f.to_branch_name).into_owned(),
                f.persons.to_string(),
            ]
        }),
    )
}

pub(super) fn frequency(buckets: &[FrequencyBucket]) -> Vec<u8> {
    table(
        &["days", "persons"],
        buckets
            .iter()
            .map(|b| vec![b.days.to_string(), b.persons.to_string()]),
    )
}

pub(super) fn heatmap(cells: &[HeatCell]) -> Vec<u8> {
    table(
        &["weekday", "hour", "detections"],
        cells.iter().map(|c| {
            vec![
                c.weekday.to_string(),
                c.hour.to_string(),
                c.detections.to_string(),
            ]
        }),
    )
}

/// Sends `bytes` as `{file}.csv`.
pub(super) fn send(res: &mut Response, bytes: Vec<u8>, file: &str) {
    res.status_code(StatusCode::OK);
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}.csv\"")) {
        res.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    let _ = res.write_body(bytes);
}
