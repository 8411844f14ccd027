//! Building a transaction's statements with anonymous `?` parameters.
//!
//! Every `VALUES` list has one of a few fixed lengths ([`SIZES`]): [`CHUNK`] rows, or for
//! the last chunk of a list the smallest length that holds its rest; the unused rows are
//! bound to `NULL` and filtered out (`WHERE v.column1 IS NOT NULL`), and each chunk is a
//! statement of its own. So the text of every statement is one of a few fixed shapes,
//! whatever the batch size:
//! each is prepared once and kept in the connection's statement cache, and a batch of any
//! size parses nothing. (Earlier, a whole transaction was one multi-statement query whose
//! text grew with the batch: only one-chunk queries could be cached, the compiled programs
//! of many large shapes having held over 250 MB, and the writer spent about a quarter of
//! its time in SQLite's parser.)
//!
//! sqlx runs SQLite on a worker thread, one round trip per statement; with [`CHUNK`] rows
//! per statement that is well under a microsecond per row, where a query per row would
//! bound throughput. A transaction of a few rows pays for its round trips more than for
//! its rows: [`Sql::one_text`] sends all its statements as one text, in one round trip.

use sqlx::Arguments;
use sqlx::encode::Encode;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::types::Type;
use tokio::sync::mpsc;

/// Rows in one `VALUES` list.
pub(crate) const CHUNK: usize = 128;

/// The lengths a `VALUES` list is prepared with, shortest first. A batch of one detection
/// bound a full [`CHUNK`] of `NULL` padding for each table before: at a few detections
/// a second, binding and clearing that padding was a fifth of the server's instructions.
const SIZES: [usize; 3] = [8, 32, CHUNK];

/// The index in [`SIZES`] of the list that holds `rest` rows (a full chunk beyond that).
fn size_for(rest: usize) -> usize {
    SIZES
        .iter()
        .position(|&size| size >= rest)
        .unwrap_or(SIZES.len() - 1)
}

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
    /// Every statement goes into one text ([`Sql::one_text`]).
    joined: bool,
}

impl Sql {
    /// Statements that [`Sql::run`] sends to SQLite's thread as one text, in one round
    /// trip, instead of one round trip per statement: for a transaction that commits a few
    /// rows, such as the intake's group commit of single detections, the hand-offs
    /// between that thread and tokio's cost more than the statements. sqlx binds the
    /// arguments across the text's statements in order. The text is cached as a whole, so
    /// use it only where its shapes are few (lists of one chunk each).
    pub fn one_text() -> Self {
        Self {
            joined: true,
            ..Self::default()
        }
    }

    /// Appends text to the statement being built; its `?` are bound by [`Sql::bind`].
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.current.text.push_str(sql);
        self
    }

    /// Ends the statement being built (if any): what follows is a statement of its own.
    fn finish(&mut self) {
        if self.joined {
            let text = self.current.text.trim_end();
            if !text.is_empty() && !text.ends_with(';') {
                self.current.text.push_str("; ");
            }
            return;
        }
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

    /// Adds `chunks` statements `head (VALUES (?, …) × n) tail`, binding `rows` in order
    /// (moved into the arguments, not copied) and `NULL` for the padding; `n` is
    /// [`CHUNK`], or one of the shorter [`SIZES`] where fewer rows are left. `head` ends
    /// with `(`, `tail` starts with `)`.
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
        let mut texts = self.start_values(head, tail, cols, rows.len(), chunks);
        let mut rows = rows.into_iter();
        for _ in 0..chunks {
            self.chunk(&mut texts, cols, &mut rows, &mut bind, &mut after);
        }
    }

    /// Ends the statement being built and returns the texts of a `VALUES` statement.
    fn start_values<'a>(
        &mut self,
        head: &'a str,
        tail: &'a str,
        cols: usize,
        rows: usize,
        chunks: usize,
    ) -> ValuesText<'a> {
        assert!(
            rows <= chunks * CHUNK,
            "{rows} rows do not fit {chunks} chunks"
        );
        self.finish();
        ValuesText {
            head,
            tail,
            row: format!("({})", vec!["?"; cols].join(", ")),
            texts: Default::default(),
        }
    }

    /// Adds one chunk of a `VALUES` statement: the next rows, as many as the shortest of
    /// [`SIZES`] that holds the rest ([`CHUNK`] at most), `NULL` padding.
    fn chunk<R>(
        &mut self,
        texts: &mut ValuesText,
        cols: usize,
        rows: &mut std::vec::IntoIter<R>,
        bind: &mut impl FnMut(&mut Self, R),
        after: &mut impl FnMut(&mut Self),
    ) {
        let size = size_for(rows.len());
        self.current.text.push_str(texts.get(size));
        for _ in 0..SIZES[size] {
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

    /// Executes the statements in order on `conn`, each prepared once and cached; the
    /// rows of all of them, in order. On an error the rest does not run, and a transaction
    /// the statements opened stays open for the caller to roll back.
    pub async fn run(mut self, conn: &mut SqliteConnection) -> Result<Vec<SqliteRow>, sqlx::Error> {
        self.finish();
        if self.joined && !self.current.text.trim().is_empty() {
            self.done.push(std::mem::take(&mut self.current));
        }
        let mut rows = Vec::new();
        for statement in self.done {
            rows.extend(statement.run(conn).await?);
        }
        Ok(rows)
    }
}

impl Statement {
    async fn run(self, conn: &mut SqliteConnection) -> Result<Vec<SqliteRow>, sqlx::Error> {
        sqlx::query_with(&self.text, self.args)
            .persistent(true)
            .fetch_all(conn)
            .await
    }
}

/// The texts of one `VALUES` statement, one per length of [`SIZES`], each built when a
/// chunk first needs it (a small batch never builds the 128-row text).
struct ValuesText<'a> {
    head: &'a str,
    tail: &'a str,
    /// `(?, …)`: one row's placeholders.
    row: String,
    texts: [Option<String>; SIZES.len()],
}

impl ValuesText<'_> {
    /// The text of the list of `SIZES[size]` rows.
    fn get(&mut self, size: usize) -> &str {
        self.texts[size].get_or_insert_with(|| {
            let list = vec![self.row.as_str(); SIZES[size]].join(", ");
            format!("{}VALUES {list}{}", self.head, self.tail)
        })
    }
}

/// Statements a [`Streamed`] builder may be ahead of the one running.
const AHEAD: usize = 8;

/// Builds a transaction's statements while they run: `build` gets a [`Streamed`] builder,
/// whose finished statements are executed in order on `conn` as soon as they are built.
/// What `build` returned and the rows of all statements, in order; on an error the rest
/// is neither built nor run, and a transaction the statements opened stays open for the
/// caller to roll back.
///
/// Why: SQLite runs on sqlx's worker thread, so the next statements are built while it
/// executes one (the writer no longer waits for a whole transaction to be built), and
/// only [`AHEAD`] statements' arguments are held at a time: a transaction of 8,192
/// detections bound ~30 MB of them before it started.
pub(crate) async fn streamed<T, F>(
    conn: &mut SqliteConnection,
    build: impl FnOnce(Streamed) -> F,
) -> Result<(T, Vec<SqliteRow>), sqlx::Error>
where
    F: Future<Output = T>,
{
    let (tx, mut rx) = mpsc::channel::<Statement>(AHEAD);
    let run = async move {
        let mut rows = Vec::new();
        while let Some(statement) = rx.recv().await {
            rows.extend(statement.run(&mut *conn).await?);
        }
        Ok::<_, sqlx::Error>(rows)
    };
    let built = build(Streamed {
        sql: Sql::default(),
        tx,
        closed: false,
    });
    let (value, rows) = tokio::join!(built, run);
    Ok((value, rows?))
}

/// A transaction being built by [`streamed`]: statements are handed to the runner as they
/// are finished (each `VALUES` chunk as soon as its rows are bound).
pub(crate) struct Streamed {
    sql: Sql,
    tx: mpsc::Sender<Statement>,
    /// The runner stopped (a statement failed): nothing more is built.
    closed: bool,
}

impl Streamed {
    /// Like [`Sql::push`].
    pub fn push(&mut self, sql: &str) -> &mut Sql {
        self.sql.push(sql)
    }

    /// Like [`Sql::values`], each chunk run as soon as it is bound.
    pub async fn values<R>(
        &mut self,
        head: &str,
        tail: &str,
        cols: usize,
        rows: Vec<R>,
        chunks: usize,
        bind: impl FnMut(&mut Sql, R),
    ) {
        self.values_then(head, tail, cols, rows, chunks, bind, |_| {})
            .await;
    }

    /// Like [`Sql::values_then`], each chunk run as soon as it is bound.
    #[allow(clippy::too_many_arguments)]
    pub async fn values_then<R>(
        &mut self,
        head: &str,
        tail: &str,
        cols: usize,
        rows: Vec<R>,
        chunks: usize,
        mut bind: impl FnMut(&mut Sql, R),
        mut after: impl FnMut(&mut Sql),
    ) {
        let mut texts = self.sql.start_values(head, tail, cols, rows.len(), chunks);
        self.send().await;
        let mut rows = rows.into_iter();
        for _ in 0..chunks {
            if self.closed {
                return;
            }
            self.sql
                .chunk(&mut texts, cols, &mut rows, &mut bind, &mut after);
            self.send().await;
        }
    }

    /// Ends the statement pushed so far and hands it to the runner: what follows is a
    /// statement of its own. Statements pushed one after another without it run as one
    /// multi-statement text, prepared (and cached) as a whole: a loop of them makes a new
    /// text for every count.
    pub async fn end_statement(&mut self) {
        self.sql.finish();
        self.send().await;
    }

    /// Hands the rest to the runner; the transaction is built.
    pub async fn finish(mut self) {
        self.sql.finish();
        self.send().await;
    }

    async fn send(&mut self) {
        for statement in std::mem::take(&mut self.sql.done) {
            if self.closed || self.tx.send(statement).await.is_err() {
                self.closed = true;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, Row};

    use super::*;

    const INSERT: (&str, &str) = (
        "INSERT INTO t (n) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL",
    );

    async fn table() -> SqliteConnection {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    }

    async fn insert(sql: &mut Streamed, rows: Vec<i64>) {
        let chunks = chunks_for(rows.len());
        sql.values(INSERT.0, INSERT.1, 1, rows, chunks, |q, n| {
            q.bind(n);
        })
        .await;
    }

    /// Pushed statements ended one by one are prepared once, however many a transaction
    /// runs; without `end_statement` every count would be a text of its own.
    #[tokio::test]
    async fn ended_statements_share_one_prepared_text() {
        let mut conn = table().await;
        let before = conn.cached_statements_size();
        let mut n = 0;
        for count in 1..=4 {
            let ((), _) = streamed(&mut conn, |mut sql| async move {
                for i in 0..count {
                    sql.push("INSERT INTO t (n) VALUES (?)").bind(n + i);
                    sql.end_statement().await;
                }
                sql.finish().await;
            })
            .await
            .unwrap();
            n += count;
        }
        assert_eq!(conn.cached_statements_size(), before + 1);
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(rows, 10);
    }

    #[tokio::test]
    async fn streamed_statements_run_in_order_with_their_rows() {
        let mut conn = table().await;
        let (built, rows) = streamed(&mut conn, |mut sql| async move {
            insert(&mut sql, (1..=300).collect()).await;
            sql.push("SELECT count(*) FROM t; ");
            insert(&mut sql, (301..=310).collect()).await;
            sql.push("SELECT count(*) FROM t; ");
            sql.finish().await;
            "built"
        })
        .await
        .unwrap();
        assert_eq!(built, "built");
        let counts: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(counts, [300, 310]);
    }

    /// Full chunks hold `CHUNK` rows and a list's last chunk the shortest length that holds
    /// its rest; every row is written once, whatever the count.
    #[tokio::test]
    async fn a_list_s_last_chunk_is_the_shortest_that_holds_its_rest() {
        for (rows, lengths) in [
            (1, vec![8]),
            (8, vec![8]),
            (9, vec![32]),
            (33, vec![128]),
            (128, vec![128]),
            (129, vec![128, 8]),
            (300, vec![128, 128, 128]),
        ] {
            let mut conn = table().await;
            let mut sql = Sql::default();
            sql.values(
                INSERT.0,
                INSERT.1,
                1,
                (1..=rows).collect(),
                chunks_for(rows as usize),
                |q, n: i64| {
                    q.bind(n);
                },
            );
            sql.finish();
            let shapes: Vec<usize> = sql
                .done
                .iter()
                .map(|s| s.text.matches('?').count())
                .collect();
            assert_eq!(shapes, lengths, "{rows} rows");
            sql.run(&mut conn).await.unwrap();
            let (count, sum): (i64, i64) = sqlx::query_as("SELECT count(*), sum(n) FROM t")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!((count, sum), (rows, rows * (rows + 1) / 2), "{rows} rows");
        }
    }

    /// One text: the statements run in order with their arguments bound in turn, the rows
    /// of every statement come back, and a failure stops the rest.
    #[tokio::test]
    async fn one_text_runs_every_statement_with_its_own_arguments() {
        let mut conn = table().await;
        let mut sql = Sql::one_text();
        sql.push("BEGIN; ");
        sql.values(INSERT.0, INSERT.1, 1, vec![1_i64, 2, 3], 1, |q, n| {
            q.bind(n);
        });
        sql.push("SELECT count(*) FROM t WHERE n > ?").bind(1_i64);
        sql.values(INSERT.0, INSERT.1, 1, (10..50).collect(), 1, |q, n: i64| {
            q.bind(n);
        });
        sql.push("SELECT sum(n) FROM t; COMMIT;");
        assert!(sql.done.is_empty(), "one statement, built as one text");
        let rows = sql.run(&mut conn).await.unwrap();
        let got: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(got, [2, 6 + (10..50).sum::<i64>()]);

        let mut sql = Sql::one_text();
        sql.push("BEGIN; INSERT INTO t (n) VALUES (?)")
            .bind(100_i64);
        sql.push("; INSERT INTO t (n) VALUES (?)").bind(1_i64); // a duplicate key
        sql.push("; INSERT INTO t (n) VALUES (?); COMMIT;")
            .bind(101_i64);
        assert!(sql.run(&mut conn).await.is_err());
        sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, 43);
    }

    #[tokio::test]
    async fn a_failed_statement_stops_the_rest() {
        let mut conn = table().await;
        let outcome = streamed(&mut conn, |mut sql| async move {
            insert(&mut sql, (1..=200).collect()).await;
            insert(&mut sql, vec![5]).await; // a duplicate key
            insert(&mut sql, (1_000..1_100).collect()).await;
            sql.finish().await;
        })
        .await;
        assert!(outcome.is_err());
        // Each statement commits on its own here: the two chunks before the failure ran,
        // nothing after it did.
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, 200);
    }
}
