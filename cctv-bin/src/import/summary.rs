//! What an import did (or, in a dry run, would do), per table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Counts of one source table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// New rows written (or that a dry run would write).
    pub imported: u64,
    /// Rows already here (their natural key exists) or before `--since`.
    pub skipped: u64,
    /// Rows that cannot be imported; each is listed with its reason.
    pub refused: u64,
}

/// One refused row: which, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    pub table: &'static str,
    /// The row's natural key or id in the source.
    pub row: String,
    pub reason: String,
}

/// Per-table counts, refusals and notes (e.g. credentials to regenerate).
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub dry_run: bool,
    pub tables: BTreeMap<&'static str, Counts>,
    pub refusals: Vec<Refusal>,
    pub notes: Vec<String>,
}

impl Summary {
    pub fn new(dry_run: bool) -> Self {
        Self {
            dry_run,
            ..Self::default()
        }
    }

    fn counts(&mut self, table: &'static str) -> &mut Counts {
        self.tables.entry(table).or_default()
    }

    pub fn imported(&mut self, table: &'static str, n: u64) {
        self.counts(table).imported += n;
    }

    pub fn skipped(&mut self, table: &'static str, n: u64) {
        self.counts(table).skipped += n;
    }

    pub fn refuse(
        &mut self,
        table: &'static str,
        row: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.counts(table).refused += 1;
        self.refusals.push(Refusal {
            table,
            row: row.into(),
            reason: reason.into(),
        });
    }

    /// `n` more refused rows of one reason, counted but listed as one line.
    pub fn refuse_unlisted(&mut self, table: &'static str, n: u64, reason: &str) {
        self.counts(table).refused += n;
        self.refusals.push(Refusal {
            table,
            row: format!("{n} more"),
            reason: reason.into(),
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The table printed at the end of a run.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verb = if self.dry_run {
            "would import"
        } else {
            "imported"
        };
        let _ = writeln!(
            out,
            "{:<28} {:>12} {:>12} {:>12}",
            "table", verb, "skipped", "refused"
        );
        for (table, c) in &self.tables {
            let _ = writeln!(
                out,
                "{table:<28} {:>12} {:>12} {:>12}",
                c.imported, c.skipped, c.refused
            );
        }
        if !self.refusals.is_empty() {
            let _ = writeln!(out, "\nRefused rows:");
            for r in &self.refusals {
                let _ = writeln!(out, "  {} {}: {}", r.table, r.row, r.reason);
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n{note}");
        }
        if self.dry_run {
            let _ = writeln!(out, "\nDry run: nothing was written.");
        }
        out
    }
}
