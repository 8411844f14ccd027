//! Reading source rows leniently: a column that is NULL, missing or of an unexpected type
//! reads as `None` (and the row is refused or defaulted by its caller), never as a panic.
//! Integers accept the `bigint`, `integer` and `smallint` an installation's migrations may
//! have left.

use sqlx::Row;
use sqlx::postgres::PgRow;

pub fn text(row: &PgRow, column: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(column).ok().flatten()
}

pub fn int(row: &PgRow, column: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(column)
        .ok()
        .flatten()
        .or_else(|| {
            row.try_get::<Option<i32>, _>(column)
                .ok()
                .flatten()
                .map(i64::from)
        })
        .or_else(|| {
            row.try_get::<Option<i16>, _>(column)
                .ok()
                .flatten()
                .map(i64::from)
        })
}

pub fn flag(row: &PgRow, column: &str, default: bool) -> bool {
    row.try_get::<Option<bool>, _>(column)
        .ok()
        .flatten()
        .unwrap_or(default)
}
