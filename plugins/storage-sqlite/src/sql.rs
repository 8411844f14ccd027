//! Building one multi-statement query with anonymous `?` parameters.
//!
//! sqlx runs SQLite on a worker thread, one round trip per query; a query may hold several
//! statements, and anonymous `?` parameters are bound in order across all of them. So a
//! whole transaction (`BEGIN IMMEDIATE; …; COMMIT;`) costs one round trip, and multi-row
//! `VALUES` lists bind plain values (no JSON to build and parse per row).
//!
//! Every `VALUES` list has exactly [`CHUNK`] rows, the unused ones bound to `NULL` and
//! filtered out (`WHERE v.column1 IS NOT NULL`), so a query's text depends only on its
//! number of chunks: it is prepared once and cached, not parsed again for every batch.
//! Only queries of one chunk per list are cached, though: a prepared statement keeps its
//! compiled program, and large batches come in many shapes (measured with heaptrack under
//! load: cached multi-chunk queries held over 250 MB of SQLite memory). A large batch pays
//! a parse that its size amortises.

use sqlx::Arguments;
use sqlx::encode::Encode;
use sqlx::sqlite::{Sqlite, SqliteArguments};
use sqlx::types::Type;

/// Rows in one `VALUES` list.
pub(crate) const CHUNK: usize = 128;

/// Chunks needed for `rows` rows.
pub(crate) fn chunks_for(rows: usize) -> usize {
    rows.div_ceil(CHUNK)
}

#[derive(Default)]
pub(crate) struct Sql {
    pub text: String,
    pub args: SqliteArguments<'static>,
    /// The most chunks of any `VALUES` list so far: decides whether the query is cached.
    pub max_chunks: usize,
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

    /// Writes `chunks` statements `head (VALUES (?, …) × CHUNK) tail;`, binding `rows` in
    /// order (moved into the arguments, not copied) and `NULL` for the padding. `head` ends with `(`, `tail` starts with `)`.
    pub fn values<R>(
        &mut self,
        head: &str,
        tail: &str,
        cols: usize,
        rows: Vec<R>,
        chunks: usize,
        bind: impl FnMut(&mut Self, R),
    ) {
        self.values_then(head, tail, cols, rows, chunks, bind, |_| {});
    }

    /// Like [`Sql::values`], with `after` binding the parameters of `tail` of each statement.
    #[allow(clippy::too_many_arguments)]
    pub fn values_then<R>(
        &mut self,
        head: &str,
        tail: &str,
        cols: usize,
        rows: Vec<R>,
        chunks: usize,
        mut bind: impl FnMut(&mut Self, R),
        mut after: impl FnMut(&mut Self),
    ) {
        assert!(
            rows.len() <= chunks * CHUNK,
            "{} rows do not fit {chunks} chunks",
            rows.len()
        );
        let placeholder = format!("({})", vec!["?"; cols].join(", "));
        let list = vec![placeholder.as_str(); CHUNK].join(", ");
        self.max_chunks = self.max_chunks.max(chunks);
        let mut rows = rows.into_iter();
        for _ in 0..chunks {
            self.text.push_str(head);
            self.text.push_str("VALUES ");
            self.text.push_str(&list);
            self.text.push_str(tail);
            self.text.push_str("; ");
            for _ in 0..CHUNK {
                match rows.next() {
                    Some(row) => bind(self, row),
                    None => {
                        for _ in 0..cols {
                            self.bind(None::<i64>);
                        }
                    }
                }
            }
            after(self);
        }
    }
}

/// Runs a built query; its text depends only on chunk counts, so it is prepared once.
macro_rules! run {
    ($sql:expr) => {
        sqlx::query_with(&$sql.text, $sql.args).persistent($sql.max_chunks <= 1)
    };
}
pub(crate) use run;
