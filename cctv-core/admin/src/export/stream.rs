//! Driving a row export: pages are read from storage on the async side and written by a
//! [`TableSink`] on a blocking thread, with at most [`PAGES_IN_FLIGHT`] pages between
//! them. A slow sink (a slow HTTP client, a slow disk) holds the reader back instead of
//! letting pages pile up, so memory is bounded by a few pages whatever the row count.

use std::io::{self, Write};

use super::Cell;
use super::csv::{CsvWriter, render};
use super::rows::{Cursor, RowExport};
use crate::AdminCore;
use cctv_core::Core;
use cctv_core::storage::StorageError;

/// Rows read per storage round trip.
pub const PAGE_ROWS: usize = 1000;
/// Pages read ahead of the sink.
pub const PAGES_IN_FLIGHT: usize = 2;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("reading rows failed: {0}")]
    Storage(#[from] StorageError),
    /// Writing failed (disk full, the client went away, the workbook refused a value).
    #[error("writing the export failed: {0}")]
    Write(#[from] io::Error),
}

/// Where rows go: a table with one header row and any number of rows, written in order.
pub trait TableSink: Send + 'static {
    fn begin(&mut self, title: &str, headers: &[&str]) -> io::Result<()>;
    fn row(&mut self, cells: &[Cell]) -> io::Result<()>;
    /// After the last row; not called when the export failed, so a sink never presents a
    /// cut-off export as complete.
    fn finish(&mut self) -> io::Result<()>;
}

/// CSV (RFC 4180, see [`CsvWriter`]) to any writer.
#[derive(Debug)]
pub struct CsvSink<W: Write> {
    csv: CsvWriter<W>,
}

impl<W: Write> CsvSink<W> {
    pub fn new(out: W) -> Self {
        Self {
            csv: CsvWriter::new(out),
        }
    }

    pub fn into_inner(self) -> W {
        self.csv.into_inner()
    }
}

impl<W: Write + Send + 'static> TableSink for CsvSink<W> {
    fn begin(&mut self, _title: &str, headers: &[&str]) -> io::Result<()> {
        self.csv.record(headers.iter().copied())
    }

    fn row(&mut self, cells: &[Cell]) -> io::Result<()> {
        let fields: Vec<String> = cells.iter().map(render).collect();
        self.csv.record(fields.iter().map(String::as_str))
    }

    fn finish(&mut self) -> io::Result<()> {
        self.csv.flush()
    }
}

enum Message {
    Page(Vec<Vec<Cell>>),
    Abort,
}

/// Writes every row of `export` into `sink`; returns the sink (finished) and the number of
/// rows written. On any error the sink is dropped without [`TableSink::finish`].
pub async fn export_rows<S: TableSink>(
    core: &Core,
    export: &RowExport,
    mut sink: S,
) -> Result<(S, u64), ExportError> {
    let store = core.export_store()?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(PAGES_IN_FLIGHT);
    let title = export.title();
    let headers = export.headers();
    let writer = tokio::task::spawn_blocking(move || -> io::Result<S> {
        sink.begin(title, headers)?;
        while let Some(message) = rx.blocking_recv() {
            match message {
                Message::Page(rows) => {
                    for row in &rows {
                        sink.row(row)?;
                    }
                }
                Message::Abort => return Err(io::Error::other("the export was aborted")),
            }
        }
        sink.finish()?;
        Ok(sink)
    });
    let estate = core.estate();
    let mut cursor = Cursor::Start;
    let mut rows = 0u64;
    let read = loop {
        let (page, next) = match export
            .page(store.as_ref(), &estate, cursor, PAGE_ROWS)
            .await
        {
            Ok(p) => p,
            Err(e) => break Err(e),
        };
        rows += page.len() as u64;
        if !page.is_empty() && tx.send(Message::Page(page)).await.is_err() {
            // The writer stopped: its error is reported below.
            break Ok(());
        }
        match next {
            Some(c) => cursor = c,
            None => break Ok(()),
        }
    };
    if read.is_err() {
        let _ = tx.send(Message::Abort).await;
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| io::Error::other(format!("the export writer stopped: {e}")));
    read?;
    Ok((written??, rows))
}
