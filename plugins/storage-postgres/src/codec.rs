//! Conversions between jiff values and PostgreSQL columns, and driver error translation.

use cctv_core::storage::{Cause, StorageError};
use jiff::Timestamp;
use jiff::civil::Date;
use time::OffsetDateTime;

pub(crate) fn odt(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanosecond())
        .expect("jiff timestamps fit time's range")
}

pub(crate) fn from_odt(o: OffsetDateTime) -> Timestamp {
    Timestamp::from_nanosecond(o.unix_timestamp_nanos()).expect("time's range fits jiff's")
}

pub(crate) fn from_opt_odt(o: Option<OffsetDateTime>) -> Option<Timestamp> {
    o.map(from_odt)
}

pub(crate) fn pg_date(d: Date) -> time::Date {
    let month = time::Month::try_from(d.month() as u8).expect("month 1-12");
    time::Date::from_calendar_date(i32::from(d.year()), month, d.day() as u8).expect("valid date")
}

pub(crate) fn from_pg_date(d: time::Date) -> Result<Date, StorageError> {
    Date::new(d.year() as i16, u8::from(d.month()) as i8, d.day() as i8)
        .map_err(|e| StorageError::Corrupt(format!("date: {e}").into()))
}

/// A JSON column of a row served to readers: a value that cannot be decoded (nested beyond
/// what serde_json reads back, written by an older version) is logged and served as null,
/// so one row never fails — or panics — the page it is on.
pub(crate) fn lenient_json(
    row: &sqlx::postgres::PgRow,
    column: &'static str,
) -> Option<serde_json::Value> {
    use sqlx::Row;
    match row.try_get::<Option<serde_json::Value>, _>(column) {
        Ok(v) => v,
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

/// Deadlocks and serialization failures: the transaction can simply be run again.
pub(crate) fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01") | Some("40001")))
}
