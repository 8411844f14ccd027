//! Building a transaction's statements with anonymous `?` parameters.
//!
//! Every `VALUES` list has exactly [`CHUNK`] rows, the unused ones bound to `NULL` and
//! filtered out (`WHERE v.column1 IS NOT NULL`), and each chunk is a statement of its own.
//! So the text of every statement is one of a few fixed shapes, whatever the batch size:
//! each is prepared once and kept in the connection's statement cache, and a batch of any
//! size parses nothing. (Earlier, a whole transaction was one multi-statement query whose
//! text grew with the batch: only one-chunk queries could be cached, the compiled programs
//! of many large shapes having held over 250 MB, and the writer spent about a quarter of
//! its time in SQLite's parser.)
//!
//! sqlx runs SQLite on a worker thread, one round trip per statement; with [`CHUNK`] rows
//! per statement that is well under a microsecond per row, where a query per row would
//! bound throughput.

use sqlx::Arguments;
use sqlx::encode::Encode;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::types::Type;

/// Rows in one `VALUES` list.
pub(crate) const CHUNK: usize = 128;

/// Chunks needed for `rows` rows.
pub(crate) fn chunks_for(rows: usize) -> usize {
    rows.div_ceil(CHUNK)
}

/// One statement (or a fixed run of statements without parameters, such as
/// `PRAGMA …; BEGIN IMMEDIATE;`) and its arguments.
#[derive(Default)]
struct Statement {
    text: String,
    args: SqliteArguments<'static>,
}

/// The statements of one transaction, in order; [`Sql::run`] executes them.
#[derive(Default)]
pub(crate) struct Sql {
    done: Vec<Statement>,
    current: Statement,
}

impl Sql {
    /// Appends text to the statement being built; its `?` are bound by [`Sql::bind`].
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.current.text.push_str(sql);
        self
    }

    /// Ends the statement being built (if any): what follows is a statement of its own.
    fn finish(&mut self) {
        if !self.current.text.trim().is_empty() {
            self.done.push(std::mem::take(&mut self.current));
        }
    }

    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'static + Send + Encode<'static, Sqlite> + Type<Sqlite>,
    {
        self.current
            .args
            .add(value)
            .expect("SQLite arguments accept every encodable value");
        self
    }

    /// Adds `chunks` statements `head (VALUES (?, …) × CHUNK) tail`, binding `rows` in
    /// order (moved into the arguments, not copied) and `NULL` for the padding. `head`
    /// ends with `(`, `tail` starts with `)`.
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
        self.finish();
        let placeholder = format!("({})", vec!["?"; cols].join(", "));
        let list = vec![placeholder.as_str(); CHUNK].join(", ");
        // Every chunk is the same statement; its text is built once.
        let text = format!("{head}VALUES {list}{tail}");
        let mut rows = rows.into_iter();
        for _ in 0..chunks {
            self.current.text.clone_from(&text);
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
            self.finish();
        }
    }

    /// Executes the statements in order on `conn`, each prepared once and cached; the
    /// rows of all of them, in order. On an error the rest does not run, and a transaction
    /// the statements opened stays open for the caller to roll back.
    pub async fn run(mut self, conn: &mut SqliteConnection) -> Result<Vec<SqliteRow>, sqlx::Error> {
        self.finish();
        let mut rows = Vec::new();
        for statement in self.done {
            rows.extend(
                sqlx::query_with(&statement.text, statement.args)
                    .persistent(true)
                    .fetch_all(&mut *conn)
                    .await?,
            );
        }
        Ok(rows)
    }
}
