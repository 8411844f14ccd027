//! `GET /api/v1/exports/{persons,events,detections}?…&format=csv|xlsx`: rows as files,
//! streamed.
//!
//! Every parameter is validated before anything is sent (422 envelope). CSV is a streamed
//! body: pages are read from storage and written to the client as they come, with at most
//! a few pages in flight, so a slow client slows the reading instead of filling memory;
//! if reading fails halfway the body is cut off (the client sees an incomplete transfer,
//! never a file that looks complete). XLSX cannot be sent before it is complete (the zip
//! directory comes last), so it is written to a temporary file in constant-memory mode
//! and that file is streamed, then deleted.

use std::io::{self, Write};

use bytes::Bytes;
use cctv_admin::access::Principal;
use cctv_admin::export::{
    CsvSink, DetectionExportFilter, EVENT_TYPES, EventExportFilter, PersonExportFilter, RowExport,
    XlsxSink, export_rows, local_range,
};
use jiff::civil::Date;
use salvo::http::StatusCode;
use salvo::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
use salvo::{Depot, Request, Response, handler};

use crate::AppState;
use crate::envelope::{ApiError, render_error};
use crate::params::Params;
use crate::state;

const XLSX_MIME: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// Bytes per body chunk.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Persons,
    Events,
    Detections,
}

fn one_of(p: &mut Params, req: &Request, name: &str, allowed: &[&str]) -> Option<String> {
    let value = p.text(req, name, 100)?;
    if allowed.contains(&value.as_str()) {
        Some(value)
    } else {
        p.add(
            name,
            format!("The {name} must be one of: {}", allowed.join(", ")),
        );
        None
    }
}

/// Checks a requested branch, and narrows to the caller's branches.
fn branches(
    state: &AppState,
    who: &Principal,
    p: &mut Params,
    branch: Option<i64>,
) -> Result<Option<Vec<i64>>, ApiError> {
    match branch {
        Some(b) if !state.core.estate().branches.contains_key(&b) => {
            p.add("branch_id", "The selected branch_id is invalid");
            Ok(None)
        }
        Some(b) if !who.may_view_branch(b) => {
            Err(ApiError::Forbidden("You may not see this branch.".into()))
        }
        Some(b) => Ok(Some(vec![b])),
        None => Ok(who
            .branch_filter()
            .map(|mine| mine.iter().copied().collect())),
    }
}

/// The export a request asks for, its format and a file name stem.
async fn parse(
    state: &AppState,
    req: &Request,
    kind: Kind,
) -> Result<(RowExport, Format, String), ApiError> {
    let who = crate::extract::reader(state, req).await?;
    let mut p = Params::default();
    let format = match one_of(&mut p, req, "format", &["csv", "xlsx"]).as_deref() {
        Some("xlsx") => Format::Xlsx,
        _ => Format::Csv,
    };
    let from = p.date(req, "date_from");
    let to = p.date(req, "date_to");
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        p.add("date_from", "The date_from must not be after date_to");
    }
    let branch = p.int(req, "branch_id");
    let branches = branches(state, &who, &mut p, branch)?;
    let export = match kind {
        Kind::Persons => {
            let status = one_of(&mut p, req, "status", &["active", "inactive"]);
            let re_id = p.text(req, "re_id", 100);
            let search = p.text(req, "search", 100);
            RowExport::Persons(PersonExportFilter {
                date_from: from,
                date_to: to,
                branches,
                status,
                re_id,
                search,
            })
        }
        Kind::Events => {
            let device_id = p.text(req, "device_id", 100);
            let event_type = one_of(&mut p, req, "event_type", &EVENT_TYPES);
            let search = p.text(req, "search", 100);
            let (start, end) = range(state, from, to)?;
            RowExport::Events(EventExportFilter {
                start,
                end,
                branches,
                device_id,
                event_type,
                search,
            })
        }
        Kind::Detections => {
            let device_id = p.text(req, "device_id", 100);
            let re_id = p.text(req, "re_id", 100);
            let (start, end) = range(state, from, to)?;
            RowExport::Detections(DetectionExportFilter {
                start,
                end,
                branches,
                device_id,
                re_id,
            })
        }
    };
    p.finish()?;
    let mut name = export.slug().to_owned();
    for d in [from, to].into_iter().flatten() {
        name.push('_');
        name.push_str(&d.to_string());
    }
    if let Some(b) = branch {
        name.push_str(&format!("_branch_{b}"));
    }
    Ok((export, format, name))
}

fn range(
    state: &AppState,
    from: Option<Date>,
    to: Option<Date>,
) -> Result<(Option<jiff::Timestamp>, Option<jiff::Timestamp>), ApiError> {
    local_range(from, to, state.core.timezone())
        .map_err(|e| ApiError::validation("date_from", e.to_string()))
}

/// The CSV writer's end of the body: each write is one chunk (the `BufWriter` in front
/// makes them [`CHUNK`] bytes). Blocks while the client is behind; fails once it is gone.
struct ChannelWriter(tokio::sync::mpsc::Sender<Bytes>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn headers(res: &mut Response, mime: &'static str, file: &str) {
    res.status_code(StatusCode::OK);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        res.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
}

fn stream_csv(state: &AppState, res: &mut Response, export: RowExport, name: &str) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let core = state.core.clone();
    let sink = CsvSink::new(io::BufWriter::with_capacity(CHUNK, ChannelWriter(tx)));
    let task = tokio::spawn(async move { export_rows(&core, &export, sink).await.map(|r| r.1) });
    let body = futures_util::stream::unfold((rx, Some(task)), |(mut rx, task)| async move {
        if let Some(chunk) = rx.recv().await {
            return Some((Ok(chunk), (rx, task)));
        }
        // The writer is done: a failed export must not end like a complete file.
        let outcome = task?.await;
        let error = match outcome {
            Ok(Ok(_)) => return None,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(error = %error, "CSV export stopped");
        Some((Err(io::Error::other("the export stopped")), (rx, None)))
    });
    headers(res, "text/csv; charset=utf-8", &format!("{name}.csv"));
    res.stream(body);
}

async fn send_xlsx(
    state: &AppState,
    res: &mut Response,
    export: RowExport,
    name: &str,
) -> Result<(), ApiError> {
    let file = tempfile::Builder::new()
        .prefix("cctv-export-")
        .suffix(".xlsx")
        .tempfile()
        .map_err(|e| ApiError::Server(format!("creating the export file: {e}")))?
        .into_temp_path();
    export_rows(&state.core, &export, XlsxSink::new(&*file))
        .await
        .map_err(|e| match e {
            cctv_admin::export::ExportError::Storage(s) => ApiError::from(s),
            other => ApiError::Server(other.to_string()),
        })?;
    let reader = tokio::fs::File::open(&*file)
        .await
        .map_err(|e| ApiError::Server(format!("reopening the export file: {e}")))?;
    // The temporary file lives (and is deleted) with the body.
    let body = futures_util::stream::unfold((reader, file), |(mut reader, file)| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; CHUNK];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), (reader, file)))
            }
            Err(e) => Some((Err(e), (reader, file))),
        }
    });
    headers(res, XLSX_MIME, &format!("{name}.xlsx"));
    res.stream(body);
    Ok(())
}

async fn run(req: &mut Request, depot: &mut Depot, res: &mut Response, kind: Kind) {
    let state = state(depot);
    let result = async {
        let (export, format, name) = parse(&state, req, kind).await?;
        match format {
            Format::Csv => {
                stream_csv(&state, res, export, &name);
                Ok(())
            }
            Format::Xlsx => send_xlsx(&state, res, export, &name).await,
        }
    }
    .await;
    if let Err(e) = result {
        render_error(res, depot, e);
    }
}

#[handler]
pub async fn persons(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    run(req, depot, res, Kind::Persons).await;
}

#[handler]
pub async fn events(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    run(req, depot, res, Kind::Events).await;
}

#[handler]
pub async fn detections(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    run(req, depot, res, Kind::Detections).await;
}
