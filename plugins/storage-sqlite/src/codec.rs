//! Conversions between domain values and SQLite columns, and driver error translation.

use cctv_core::storage::{Cause, StorageError};
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;
use sqlx::Sqlite;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;

/// Fixed-width UTC text, so that text order is time order: `2026-11-28T08:00:00.000000Z`,
/// as jiff prints it with six fractional digits.
///
/// Why not `format!("{t:.6}")`: a detection takes seven of these on its way in, and
/// jiff's general printer took about 800 instructions each, this about 500 (callgrind,
/// allocation included): 1 % of the server's instructions per detection. Times before
/// 1970 (never a detection's) go through jiff.
pub(crate) fn ts(t: Timestamp) -> String {
    // jiff gives a time before 1970 a negative second and fraction (its fraction takes
    // the sign of its seconds, so the last nanosecond of 1969 is 0 s and -1 ns).
    let (seconds, nanos) = (t.as_second(), t.subsec_nanosecond());
    if seconds < 0 || nanos < 0 {
        return format!("{t:.6}");
    }
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    let mut text = [0_u8; 27];
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], month);
    put_digits(&mut text[8..10], day);
    put_digits(&mut text[11..13], second_of_day / 3_600);
    put_digits(&mut text[14..16], second_of_day / 60 % 60);
    put_digits(&mut text[17..19], second_of_day % 60);
    put_digits(&mut text[20..26], i64::from(nanos / 1_000));
    for (at, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        text[at] = separator;
    }
    // ASCII digits and separators only: always valid.
    match std::str::from_utf8(&text) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("{t:.6}"),
    }
}

/// A day as SQLite stores it, `2026-11-28`: what `Date`'s `Display` prints, for years 0
/// to 9999, without the formatting machinery (about 300 instructions each, and a
/// detection binds its day about seven times on its way to the writer). Other years go
/// through jiff.
pub(crate) fn day(d: Date) -> String {
    let year = i64::from(d.year());
    if !(0..=9_999).contains(&year) {
        return d.to_string();
    }
    let mut text = *b"0000-00-00";
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], i64::from(d.month()));
    put_digits(&mut text[8..10], i64::from(d.day()));
    match std::str::from_utf8(&text) {
        Ok(text) => text.to_owned(),
        Err(_) => d.to_string(),
    }
}

/// Writes the lowest decimal digits of `n` (not negative) into `out`, zero-padded.
fn put_digits(out: &mut [u8], n: i64) {
    let mut n = n.unsigned_abs();
    for place in out.iter_mut().rev() {
        *place = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The proleptic Gregorian year, month and day of a day counted from 1970-01-01 (not
/// negative): Howard Hinnant's `civil_from_days`, over 400-year eras of 146,097 days.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

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

    /// The fast path prints what jiff prints, over the whole range and at its edges.
    #[test]
    fn timestamps_print_as_jiff_prints_them() {
        let mut seconds: i64 = 1;
        let mut cases: Vec<Timestamp> = [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
            "2000-02-29T12:34:56.000001Z",
            "2026-11-28T08:00:00.999999999Z",
            "9999-12-30T21:59:59.999999999Z",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .chain([Timestamp::MIN, Timestamp::MAX])
        .collect();
        for i in 0..20_000_i64 {
            // A fixed pseudo-random walk over every second from 1970 to 9999.
            seconds = seconds
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407)
                .rem_euclid(253_402_207_200);
            let nanos = (seconds ^ i).rem_euclid(1_000_000_000) as i32;
            cases.push(Timestamp::new(seconds, nanos).unwrap());
        }
        for t in cases {
            assert_eq!(ts(t), format!("{t:.6}"), "{t:?}");
        }
    }

    #[test]
    fn days_are_written_as_jiff_writes_them() {
        let mut cases = vec![Date::MIN, Date::MAX, jiff::civil::date(0, 1, 1)];
        let mut d = jiff::civil::date(1899, 12, 25);
        while d.year() < 2101 {
            cases.push(d);
            d = d.tomorrow().unwrap();
        }
        cases.extend([
            jiff::civil::date(9999, 12, 31),
            jiff::civil::date(-1, 12, 31),
        ]);
        for d in cases {
            assert_eq!(day(d), d.to_string(), "{d:?}");
        }
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
