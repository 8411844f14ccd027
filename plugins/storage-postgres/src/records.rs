//! [`RecordStore`] for PostgreSQL: generic CRUD over the static table descriptions of
//! `cctv_core::records`. Names come only from those descriptions; values are bound.
//! Write lists run SERIALIZABLE (so `Ensure` guards hold under concurrency) and are
//! retried on serialization failures.

use async_trait::async_trait;
use cctv_core::records::{
    ColumnType, ENSURE_PREFIX, Filter, ListQuery, Record, RecordStore, Table, WriteOp, hex, unhex,
};
use cctv_core::storage::StorageError;
use jiff::Timestamp;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};
use time::OffsetDateTime;

use crate::{PgStore, from_odt, is_retryable, map_err, odt};

/// A value ready to bind.
enum Bound {
    /// A null of the column's type. The statement text is the same for a null and a
    /// value, and a connection reuses the statement it prepared first: a null bound as
    /// another type would make that statement refuse the column's values later.
    Null(ColumnType),
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    /// Text cast to a native type (`::date`, `::jsonb`).
    Cast(String, &'static str),
    Time(OffsetDateTime),
    Bytes(Vec<u8>),
}

fn mismatch(column: &str, expected: &str) -> StorageError {
    StorageError::Rejected(format!("{column}: expected {expected}"))
}

fn encode(table: &Table, column: &str, value: &Value) -> Result<Bound, StorageError> {
    let ty = table
        .column_type(column)
        .ok_or_else(|| StorageError::Rejected(format!("unknown column {column}")))?;
    if value.is_null() {
        return Ok(match ty {
            ColumnType::Date => Bound::Cast("".into(), "NULL::date"),
            ColumnType::Json => Bound::Cast("".into(), "NULL::jsonb"),
            ColumnType::Timestamp => Bound::Cast("".into(), "NULL::timestamptz"),
            other => Bound::Null(other),
        });
    }
    Ok(match ty {
        ColumnType::Int => Bound::Int(value.as_i64().ok_or_else(|| mismatch(column, "integer"))?),
        ColumnType::Float => {
            Bound::Float(value.as_f64().ok_or_else(|| mismatch(column, "number"))?)
        }
        ColumnType::Text => Bound::Text(
            value
                .as_str()
                .ok_or_else(|| mismatch(column, "string"))?
                .to_owned(),
        ),
        ColumnType::Date => Bound::Cast(
            value
                .as_str()
                .filter(|s| s.parse::<jiff::civil::Date>().is_ok())
                .ok_or_else(|| mismatch(column, "date"))?
                .to_owned(),
            "::date",
        ),
        ColumnType::Bool => {
            Bound::Bool(value.as_bool().ok_or_else(|| mismatch(column, "boolean"))?)
        }
        ColumnType::Json => Bound::Cast(value.to_string(), "::jsonb"),
        ColumnType::Timestamp => {
            let t: Timestamp = value
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| mismatch(column, "RFC 3339 timestamp"))?;
            Bound::Time(odt(t))
        }
        ColumnType::Bytes => Bound::Bytes(
            value
                .as_str()
                .and_then(unhex)
                .ok_or_else(|| mismatch(column, "hex bytes"))?,
        ),
    })
}

fn push_bound(qb: &mut QueryBuilder<'_, Postgres>, b: Bound) {
    match b {
        Bound::Null(ColumnType::Text) => qb.push_bind(None::<String>),
        Bound::Null(ColumnType::Float) => qb.push_bind(None::<f64>),
        Bound::Null(ColumnType::Bool) => qb.push_bind(None::<bool>),
        Bound::Null(ColumnType::Bytes) => qb.push_bind(None::<Vec<u8>>),
        Bound::Null(_) => qb.push_bind(None::<i64>),
        Bound::Int(i) => qb.push_bind(i),
        Bound::Float(f) => qb.push_bind(f),
        Bound::Text(s) => qb.push_bind(s),
        Bound::Bool(v) => qb.push_bind(v),
        Bound::Time(t) => qb.push_bind(t),
        Bound::Bytes(v) => qb.push_bind(v),
        Bound::Cast(_, cast) if cast.starts_with("NULL") => qb.push(cast),
        Bound::Cast(s, cast) => qb.push_bind(s).push(cast),
    };
}

fn like_pattern(term: &str) -> String {
    let escaped = term
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn push_filters(
    qb: &mut QueryBuilder<'_, Postgres>,
    table: &Table,
    filters: &[Filter],
) -> Result<(), StorageError> {
    qb.push(" WHERE 1 = 1");
    for f in filters {
        match f {
            Filter::Eq(c, v) | Filter::Ne(c, v) | Filter::Ge(c, v) | Filter::Lt(c, v) => {
                let op = match f {
                    Filter::Eq(..) => " = ",
                    Filter::Ne(..) => " IS DISTINCT FROM ",
                    Filter::Ge(..) => " >= ",
                    _ => " < ",
                };
                qb.push(format!(" AND {c}{op}"));
                push_bound(qb, encode(table, c, v)?);
            }
            Filter::In(c, values) => {
                if values.is_empty() {
                    qb.push(" AND 1 = 0");
                    continue;
                }
                qb.push(format!(" AND {c} IN ("));
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        qb.push(", ");
                    }
                    push_bound(qb, encode(table, c, v)?);
                }
                qb.push(")");
            }
            Filter::IsNull(c) => {
                table
                    .column_type(c)
                    .ok_or_else(|| StorageError::Rejected(format!("unknown column {c}")))?;
                qb.push(format!(" AND {c} IS NULL"));
            }
            Filter::NotNull(c) => {
                table
                    .column_type(c)
                    .ok_or_else(|| StorageError::Rejected(format!("unknown column {c}")))?;
                qb.push(format!(" AND {c} IS NOT NULL"));
            }
            Filter::Search(term) if !table.search.is_empty() => {
                let pattern = like_pattern(term);
                qb.push(" AND (");
                for (i, c) in table.search.iter().enumerate() {
                    if i > 0 {
                        qb.push(" OR ");
                    }
                    qb.push(format!("lower({c}) LIKE "));
                    qb.push_bind(pattern.clone());
                    qb.push(" ESCAPE '\\'");
                }
                qb.push(")");
            }
            Filter::Search(_) => {}
        }
    }
    Ok(())
}

fn select_list(table: &Table) -> String {
    let mut cols = String::from("id, created_at, updated_at");
    for c in table.columns {
        cols.push_str(", ");
        if c.ty == ColumnType::Date {
            cols.push_str(&format!("{0}::text AS {0}", c.name));
        } else {
            cols.push_str(c.name);
        }
    }
    cols
}

fn decode(table: &Table, row: &PgRow) -> Result<Record, StorageError> {
    let mut rec = Record::new();
    let names = ["id", "created_at", "updated_at"]
        .into_iter()
        .chain(table.columns.iter().map(|c| c.name));
    for name in names {
        let ty = table.column_type(name).unwrap_or(ColumnType::Text);
        let value = match ty {
            ColumnType::Int => row
                .try_get::<Option<i64>, _>(name)
                .or_else(|_| {
                    row.try_get::<Option<i32>, _>(name)
                        .map(|v| v.map(i64::from))
                })
                .map(Value::from),
            ColumnType::Float => row.try_get::<Option<f64>, _>(name).map(Value::from),
            ColumnType::Bool => row.try_get::<Option<bool>, _>(name).map(Value::from),
            ColumnType::Text | ColumnType::Date => {
                row.try_get::<Option<String>, _>(name).map(Value::from)
            }
            ColumnType::Json => row
                .try_get::<Option<Value>, _>(name)
                .map(|v| v.unwrap_or(Value::Null)),
            ColumnType::Timestamp => row
                .try_get::<Option<OffsetDateTime>, _>(name)
                .map(|t| t.map_or(Value::Null, |t| Value::from(from_odt(t).to_string()))),
            ColumnType::Bytes => row
                .try_get::<Option<Vec<u8>>, _>(name)
                .map(|v| v.map_or(Value::Null, |b| Value::from(hex(&b)))),
        }
        .map_err(map_err)?;
        rec.insert(name.to_owned(), value);
    }
    Ok(rec)
}

async fn run_op(
    conn: &mut sqlx::PgConnection,
    op: &WriteOp,
    results: &[i64],
    now: OffsetDateTime,
) -> Result<i64, OpError> {
    match op {
        WriteOp::Insert {
            table,
            record,
            link,
        } => {
            let mut qb = QueryBuilder::<Postgres>::new(format!("INSERT INTO {} (", table.name));
            let mut cols: Vec<&str> = record
                .keys()
                .filter(|k| !matches!(k.as_str(), "id" | "created_at" | "updated_at"))
                .map(String::as_str)
                .collect();
            if let Some((c, _)) = link {
                cols.retain(|k| k != c);
                cols.push(c);
            }
            for c in &cols {
                qb.push(format!("{c}, "));
            }
            qb.push("created_at, updated_at) VALUES (");
            for c in &cols {
                let value = match link {
                    Some((lc, idx)) if lc == c => {
                        let id = *results
                            .get(*idx)
                            .ok_or_else(|| StorageError::Rejected("bad link".into()))?;
                        if table.column_type(c) == Some(ColumnType::Text) {
                            Value::from(id.to_string())
                        } else {
                            Value::from(id)
                        }
                    }
                    _ => record.get(*c).cloned().unwrap_or(Value::Null),
                };
                push_bound(&mut qb, encode(table, c, &value)?);
                qb.push(", ");
            }
            qb.push_bind(now);
            qb.push(", ");
            qb.push_bind(now);
            qb.push(") RETURNING id");
            let row = qb.build().fetch_one(&mut *conn).await?;
            Ok(row.try_get::<i64, _>(0)?)
        }
        WriteOp::Update {
            table,
            changes,
            filters,
        } => {
            let mut qb = QueryBuilder::<Postgres>::new(format!("UPDATE {} SET ", table.name));
            for (c, v) in changes {
                if matches!(c.as_str(), "id" | "created_at" | "updated_at") {
                    continue;
                }
                let b = encode(table, c, v)?;
                qb.push(format!("{c} = "));
                push_bound(&mut qb, b);
                qb.push(", ");
            }
            qb.push("updated_at = ");
            qb.push_bind(now);
            push_filters(&mut qb, table, filters)?;
            let done = qb.build().execute(&mut *conn).await?;
            Ok(done.rows_affected() as i64)
        }
        WriteOp::Delete { table, filters } => {
            let mut qb = QueryBuilder::<Postgres>::new(format!("DELETE FROM {}", table.name));
            push_filters(&mut qb, table, filters)?;
            let done = qb.build().execute(&mut *conn).await?;
            Ok(done.rows_affected() as i64)
        }
        WriteOp::Ensure {
            table,
            filters,
            min,
            max,
            reason,
        } => {
            let mut qb =
                QueryBuilder::<Postgres>::new(format!("SELECT count(*) FROM {}", table.name));
            push_filters(&mut qb, table, filters)?;
            let n = qb
                .build()
                .fetch_one(&mut *conn)
                .await?
                .try_get::<i64, _>(0)? as u64;
            if n < *min || n > *max {
                Err(StorageError::Rejected(format!("{ENSURE_PREFIX}{reason}")).into())
            } else {
                Ok(n as i64)
            }
        }
    }
}

async fn count(
    conn: &mut sqlx::PgConnection,
    table: &Table,
    filters: &[Filter],
) -> Result<u64, StorageError> {
    let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT count(*) FROM {}", table.name));
    push_filters(&mut qb, table, filters)?;
    let row = qb.build().fetch_one(&mut *conn).await.map_err(map_err)?;
    Ok(row.try_get::<i64, _>(0).map_err(map_err)? as u64)
}

#[async_trait]
impl RecordStore for PgStore {
    async fn list_records(
        &self,
        table: &'static Table,
        query: &ListQuery,
    ) -> Result<(Vec<Record>, u64), StorageError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        let total = count(&mut conn, table, &query.filters).await?;
        table
            .column_type(query.order.column)
            .ok_or_else(|| StorageError::Rejected("unknown order column".into()))?;
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {} FROM {}",
            select_list(table),
            table.name
        ));
        push_filters(&mut qb, table, &query.filters)?;
        let dir = if query.order.descending {
            "DESC"
        } else {
            "ASC"
        };
        qb.push(format!(
            " ORDER BY {} {dir}, id {dir} LIMIT ",
            query.order.column
        ));
        qb.push_bind(i64::from(query.per_page));
        qb.push(" OFFSET ");
        qb.push_bind(i64::from(query.page.saturating_sub(1)) * i64::from(query.per_page));
        let rows = qb.build().fetch_all(&mut *conn).await.map_err(map_err)?;
        let records = rows
            .iter()
            .map(|r| decode(table, r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((records, total))
    }

    async fn find_record(
        &self,
        table: &'static Table,
        filters: &[Filter],
    ) -> Result<Option<Record>, StorageError> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {} FROM {}",
            select_list(table),
            table.name
        ));
        push_filters(&mut qb, table, filters)?;
        qb.push(" ORDER BY id LIMIT 1");
        let row = qb
            .build()
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| decode(table, &r)).transpose()
    }

    async fn count_records(
        &self,
        table: &'static Table,
        filters: &[Filter],
    ) -> Result<u64, StorageError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        count(&mut conn, table, filters).await
    }

    async fn distinct_values(
        &self,
        table: &'static Table,
        column: &'static str,
        filters: &[Filter],
        limit: u32,
    ) -> Result<Vec<Value>, StorageError> {
        let ty = table
            .column_type(column)
            .ok_or_else(|| StorageError::Rejected(format!("unknown column {column}")))?;
        let expr = if ty == ColumnType::Date {
            format!("{column}::text")
        } else {
            column.to_owned()
        };
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT DISTINCT {expr} AS v FROM {}",
            table.name
        ));
        push_filters(&mut qb, table, filters)?;
        qb.push(" LIMIT ");
        qb.push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok(match ty {
                    ColumnType::Int => {
                        Value::from(row.try_get::<Option<i64>, _>("v").map_err(map_err)?)
                    }
                    _ => Value::from(row.try_get::<Option<String>, _>("v").map_err(map_err)?),
                })
            })
            .collect()
    }

    async fn apply(&self, ops: &[WriteOp]) -> Result<Vec<i64>, StorageError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_apply(ops).await {
                Err(OpError::Sql(e)) if is_retryable(&e) && attempt < 5 => continue,
                Err(OpError::Sql(e)) => return Err(map_err(e)),
                Err(OpError::Store(e)) => return Err(e),
                Ok(results) => return Ok(results),
            }
        }
    }
}

enum OpError {
    Sql(sqlx::Error),
    Store(StorageError),
}

impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> Self {
        OpError::Sql(e)
    }
}

impl From<StorageError> for OpError {
    fn from(e: StorageError) -> Self {
        OpError::Store(e)
    }
}

impl PgStore {
    async fn try_apply(&self, ops: &[WriteOp]) -> Result<Vec<i64>, OpError> {
        let now = odt(Timestamp::now());
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            .execute(&mut *tx)
            .await?;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            // Dropping `tx` on error rolls the whole list back.
            let r = run_op(&mut tx, op, &results, now).await?;
            results.push(r);
        }
        tx.commit().await?;
        Ok(results)
    }
}
