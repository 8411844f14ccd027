//! Building one multi-statement query with anonymous `?` parameters.
//!
//! sqlx runs SQLite on a worker thread, one round trip per query; a query may hold several
//! statements, and anonymous `?` parameters are bound in order across all of them. So a
//! whole transaction (`BEGIN IMMEDIATE; …; COMMIT;`) costs one round trip, and multi-row
//! `VALUES` lists bind plain values (no JSON to build and parse per row).

use sqlx::Arguments;
use sqlx::encode::Encode;
use sqlx::sqlite::{Sqlite, SqliteArguments};
use sqlx::types::Type;

/// Most rows in one `VALUES` list (SQLite allows 32766 parameters per statement).
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

#[derive(Default)]
pub(crate) struct Sql {
    pub text: String,
    pub args: SqliteArguments<'static>,
}

impl Sql {
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'static + Send + Encode<'static, Sqlite> + Type<Sqlite>,
    {
        self.args
            .add(value)
            .expect("SQLite arguments accept every encodable value");
        self
    }

    /// Writes `head VALUES (?, …), … tail;` for each chunk of `rows`, binding each row with `bind`.
    pub fn values<R>(
        &mut self,
        head: &str,
        tail: &str,
        cols: usize,
        rows: &[R],
        bind: impl FnMut(&mut Self, &R),
    ) {
        self.values_then(head, tail, cols, rows, bind, |_| {});
    }

    /// Like [`Sql::values`], with `after` binding the parameters of `tail` of each statement.
    pub fn values_then<R>(
        &mut self,
        head: &str,
        tail: &str,
        cols: usize,
        rows: &[R],
        mut bind: impl FnMut(&mut Self, &R),
        mut after: impl FnMut(&mut Self),
    ) {
        let placeholder = format!("({})", vec!["?"; cols].join(", "));
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            self.text.push_str(head);
            self.text.push_str(" VALUES ");
            for (i, row) in chunk.iter().enumerate() {
                if i > 0 {
                    self.text.push_str(", ");
                }
                self.text.push_str(&placeholder);
                bind(self, row);
            }
            self.text.push(' ');
            self.text.push_str(tail);
            self.text.push_str("; ");
            after(self);
        }
    }
}

/// Runs a built query (not cached: its text depends on the batch size).
macro_rules! run {
    ($sql:expr) => {
        sqlx::query_with(&$sql.text, $sql.args).persistent(false)
    };
}
pub(crate) use run;

impl Sql {}
