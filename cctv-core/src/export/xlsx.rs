//! XLSX: one worksheet per sheet, a bold header row, numbers as numbers.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

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
