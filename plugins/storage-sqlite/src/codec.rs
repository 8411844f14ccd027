//! Conversions between domain values and SQLite columns, and driver error translation.

use cctv_core::storage::{Cause, StorageError};
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;
use sqlx::Sqlite;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;

// Times are stored as fixed-width UTC text, so that text order is time order
// (`2026-11-28T08:00:00.000000Z`), and days as `2026-11-28`; a detection binds several of
// each on its way in, so they are printed without jiff's general printer.
pub(crate) use cctv_core::time_text::{day, utc_micros as ts};

pub(crate) fn parse_ts(s: &str) -> Result<Timestamp, StorageError> {
    s.parse()
        .map_err(|e| StorageError::Corrupt(format!("timestamp {s:?}: {e}").into()))
}

pub(crate) fn parse_opt_ts(s: Option<String>) -> Result<Option<Timestamp>, StorageError> {
    s.as_deref().map(parse_ts).transpose()
}

pub(crate) fn parse_date(s: &str) -> Result<Date, StorageError> {
    s.parse()
        .map_err(|e| StorageError::Corrupt(format!("date {s:?}: {e}").into()))
}

/// A JSON column of a row served to readers: a value that cannot be decoded (written by an
/// older version, nested beyond what can be read back) is logged and served as null, so
/// one row never fails the page it is on.
pub(crate) fn lenient_json(s: Option<String>, column: &'static str) -> Option<Value> {
    let s = s?;
    match serde_json::from_str(&s) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(column, error = %e, "a stored JSON value cannot be decoded; served as null");
            None
        }
    }
}

/// `NotFound` unless exactly the one targeted row was changed.
pub(crate) fn one_row(rows_affected: u64) -> Result<(), StorageError> {
    if rows_affected == 0 {
        Err(StorageError::NotFound)
    } else {
        Ok(())
    }
}

/// The driver's error as a storage error: its kind decides the variant, and failures an
/// operator must look into keep the driver's error itself as their source.
pub(crate) fn map_err(e: sqlx::Error) -> StorageError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StorageError::Conflict(db.message().to_owned());
        }
        if db.is_foreign_key_violation() || db.is_check_violation() {
            return StorageError::Rejected(db.message().to_owned());
        }
        let message = db.message().to_owned();
        return StorageError::Unavailable(Cause::with_source(message, e));
    }
    match e {
        sqlx::Error::RowNotFound => StorageError::NotFound,
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_) => {
            StorageError::Corrupt(Cause::with_source(e.to_string(), e))
        }
        other => StorageError::Unavailable(Cause::with_source(other.to_string(), other)),
    }
}

/// A bind value of a dynamically built statement.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

pub(crate) fn bind_all<'q>(
    mut q: Query<'q, Sqlite, SqliteArguments<'q>>,
    binds: &'q [Bind],
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Int(i) => q.bind(*i),
            Bind::Text(s) => q.bind(s.as_str()),
        };
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_failures_keep_the_driver_error_as_their_source() {
        use std::error::Error;
        let e = map_err(sqlx::Error::PoolTimedOut);
        assert!(matches!(e, StorageError::Unavailable(_)), "{e:?}");
        let driver = e
            .source()
            .and_then(Error::source)
            .expect("the driver's error");
        assert!(
            matches!(
                driver.downcast_ref::<sqlx::Error>(),
                Some(sqlx::Error::PoolTimedOut)
            ),
            "{driver:?}"
        );
        let e = map_err(sqlx::Error::ColumnNotFound("person_name".into()));
        assert!(matches!(e, StorageError::Corrupt(_)), "{e:?}");
        assert!(e.source().and_then(Error::source).is_some());
        assert!(matches!(
            map_err(sqlx::Error::RowNotFound),
            StorageError::NotFound
        ));
    }

    #[test]
    fn timestamps_sort_as_text() {
        let a = ts("2026-11-28T10:00:00Z".parse().unwrap());
        let b = ts("2026-11-28T10:00:00.5Z".parse().unwrap());
        assert!(a < b, "{a} < {b}");
        assert_eq!(
            parse_ts(&b).unwrap(),
            "2026-11-28T10:00:00.5Z".parse::<Timestamp>().unwrap()
        );
    }
}
