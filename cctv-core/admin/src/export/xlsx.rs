//! XLSX: one worksheet per sheet, a bold header row, numbers as numbers.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::stream::TableSink;
use super::{Cell, Sheet};

/// The workbook's bytes.
pub fn write_xlsx(sheets: &[Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    for sheet in sheets {
        let ws = book.add_worksheet();
        ws.set_name(sheet.name)?;
        for (c, header) in (0u16..).zip(&sheet.headers) {
            ws.write_string_with_format(0, c, *header, &bold)?;
            ws.set_column_width(c, 18)?;
        }
        for (r, row) in (1u32..).zip(&sheet.rows) {
            for (c, cell) in (0u16..).zip(row) {
                match cell {
                    Cell::Text(s) => ws.write_string(r, c, s)?,
                    // Report counts stay far below 2^53, where f64 is exact.
                    Cell::Int(i) => ws.write_number(r, c, *i as f64)?,
                    Cell::Float(f) => ws.write_number(r, c, *f)?,
                    Cell::Empty => ws,
                };
            }
        }
    }
    book.save_to_buffer()
}

/// Rows per worksheet, header included (Excel's limit); longer exports continue on
/// further sheets, each with the header again.
pub const XLSX_MAX_ROWS: u32 = 1_048_576;

/// A row export as a workbook file at `path`. Worksheets use rust_xlsxwriter's constant
/// memory mode: each row is flushed to a temporary file as soon as the next one starts
/// and strings are stored inline, so memory does not grow with the number of rows.
/// The workbook is assembled (streamed into the zip) by [`TableSink::finish`].
pub struct XlsxSink {
    book: Workbook,
    path: std::path::PathBuf,
    bold: Format,
    title: String,
    headers: Vec<String>,
    sheet: usize,
    sheets: usize,
    next_row: u32,
}

impl std::fmt::Debug for XlsxSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XlsxSink")
            .field("path", &self.path)
            .field("sheets", &self.sheets)
            .finish()
    }
}

fn io_err(e: XlsxError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl XlsxSink {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            book: Workbook::new(),
            path: path.into(),
            bold: Format::new().set_bold(),
            title: String::new(),
            headers: Vec::new(),
            sheet: 0,
            sheets: 0,
            next_row: 0,
        }
    }

    /// Keeps the worksheets' temporary files in `dir` instead of the system's.
    pub fn with_tempdir(mut self, dir: &std::path::Path) -> std::io::Result<Self> {
        self.book.set_tempdir(dir).map_err(io_err)?;
        Ok(self)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn new_sheet(&mut self) -> Result<(), XlsxError> {
        self.sheets += 1;
        let name = if self.sheets == 1 {
            self.title.clone()
        } else {
            format!("{} ({})", self.title, self.sheets)
        };
        let ws = self.book.add_worksheet_with_constant_memory()?;
        ws.set_name(name)?;
        self.sheet = self.sheets - 1;
        for (c, header) in (0u16..).zip(&self.headers) {
            ws.set_column_width(c, 18)?;
            ws.write_string_with_format(0, c, header, &self.bold)?;
        }
        self.next_row = 1;
        Ok(())
    }
}

/// Excel refuses cell text longer than 32,767 UTF-16 units; longer text (a huge
/// `detection_data`) is cut there rather than failing the whole export.
fn fit(s: &str) -> &str {
    const MAX: usize = 32_767;
    if s.len() <= MAX {
        return s; // UTF-16 never needs more units than UTF-8 needs bytes
    }
    let mut units = 0;
    for (i, ch) in s.char_indices() {
        units += ch.len_utf16();
        if units > MAX {
            return &s[..i];
        }
    }
    s
}

impl TableSink for XlsxSink {
    fn begin(&mut self, title: &str, headers: &[&str]) -> std::io::Result<()> {
        self.title = title.to_owned();
        self.headers = headers.iter().map(|h| (*h).to_owned()).collect();
        self.new_sheet().map_err(io_err)
    }

    fn row(&mut self, cells: &[Cell]) -> std::io::Result<()> {
        if self.next_row >= XLSX_MAX_ROWS {
            self.new_sheet().map_err(io_err)?;
        }
        let r = self.next_row;
        let ws = self.book.worksheet_from_index(self.sheet).map_err(io_err)?;
        for (c, cell) in (0u16..).zip(cells) {
            match cell {
                Cell::Text(s) => ws.write_string(r, c, fit(s)),
                // Row ids and counts stay far below 2^53, where f64 is exact.
                Cell::Int(i) => ws.write_number(r, c, *i as f64),
                Cell::Float(f) => ws.write_number(r, c, *f),
                Cell::Empty => Ok(&mut *ws),
            }
            .map_err(io_err)?;
        }
        self.next_row += 1;
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.book.save(&self.path).map_err(io_err)
    }
}
