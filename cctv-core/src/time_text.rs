//! Times and days as text on the paths every detection takes, without jiff's general
//! printers.
//!
//! Why: a detection's times and days are printed several times on its way in (the access
//! log line, the rows SQLite stores), and jiff's `Display` and `strftime` cost 300 to
//! 2,000 instructions a call (callgrind). The functions here print exactly what the jiff
//! call named in their docs prints (the tests compare the two), and hand what they do
//! not cover (times outside 1970 to 9999, years outside 0 to 9999, an offset with seconds,
//! which only historic local mean times have) to jiff itself.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The last second these printers handle, 9999-12-31T23:59:59 UTC.
const LAST_SECOND: i64 = 253_402_300_799;

/// A day as `Date`'s `Display` prints it, `2026-11-28`.
pub fn day(d: Date) -> String {
    let year = i64::from(d.year());
    if !(0..=9_999).contains(&year) {
        return d.to_string();
    }
    let mut text = *b"0000-00-00";
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], i64::from(d.month()));
    put_digits(&mut text[8..10], i64::from(d.day()));
    ascii(&text).unwrap_or_else(|| d.to_string())
}

/// Fixed-width UTC with six fractional digits, as `format!("{t:.6}")` prints it:
/// `2026-11-28T08:00:00.000000Z`. Text order is time order, which is why SQLite stores
/// times this way.
pub fn utc_micros(t: Timestamp) -> String {
    let Some(seconds) = printable(t) else {
        return format!("{t:.6}");
    };
    let mut text = [0_u8; 27];
    put_date_time(&mut text, seconds);
    text[19] = b'.';
    put_digits(&mut text[20..26], i64::from(t.subsec_nanosecond() / 1_000));
    text[26] = b'Z';
    ascii(&text).unwrap_or_else(|| format!("{t:.6}"))
}

/// Local time in `tz` with milliseconds and the offset, as
/// `t.to_zoned_datetime(tz).strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")` prints it:
/// `2026-11-28T15:00:00.250+07:00`.
pub fn local_millis(t: Timestamp, tz: &TimeZone) -> String {
    let jiff_text = || {
        t.to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string()
    };
    let offset = tz.to_offset(t).seconds();
    let local = printable(t).map(|s| s + i64::from(offset));
    let Some(local) = local.filter(|s| (0..=LAST_SECOND).contains(s) && offset % 60 == 0) else {
        return jiff_text();
    };
    let mut text = [0_u8; 29];
    put_date_time(&mut text, local);
    text[19] = b'.';
    put_digits(
        &mut text[20..23],
        i64::from(t.subsec_nanosecond() / 1_000_000),
    );
    text[23] = if offset < 0 { b'-' } else { b'+' };
    let minutes = i64::from(offset.unsigned_abs() / 60);
    put_digits(&mut text[24..26], minutes / 60);
    text[26] = b':';
    put_digits(&mut text[27..29], minutes % 60);
    ascii(&text).unwrap_or_else(jiff_text)
}

/// The whole seconds of `t` if these printers handle it (1970 to 9999, no negative
/// fraction: jiff gives the last nanosecond of 1969 0 s and −1 ns).
fn printable(t: Timestamp) -> Option<i64> {
    let seconds = t.as_second();
    ((0..=LAST_SECOND).contains(&seconds) && t.subsec_nanosecond() >= 0).then_some(seconds)
}

/// `YYYY-MM-DDTHH:MM:SS` of `seconds` since 1970 (not negative) into `text[..19]`.
fn put_date_time(text: &mut [u8], seconds: i64) {
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], month);
    put_digits(&mut text[8..10], day);
    put_digits(&mut text[11..13], second_of_day / 3_600);
    put_digits(&mut text[14..16], second_of_day / 60 % 60);
    put_digits(&mut text[17..19], second_of_day % 60);
    for (at, separator) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        text[at] = separator;
    }
}

/// ASCII digits and separators only: always valid UTF-8.
fn ascii(text: &[u8]) -> Option<String> {
    std::str::from_utf8(text).ok().map(str::to_owned)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Edge cases, jiff's limits, and a fixed pseudo-random walk over 1970 to jiff's last
    /// second (9999-12-30, so that every zone can show it) with
    /// fractions of every length (whole seconds, milliseconds, microseconds, nanoseconds).
    fn timestamps() -> Vec<Timestamp> {
        let mut cases: Vec<Timestamp> = [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
            "1969-12-31T23:00:00Z",
            "2000-02-29T12:34:56.000001Z",
            "2026-03-29T01:00:00Z",
            "2026-10-25T00:59:59.999Z",
            "2026-11-28T08:00:00.5Z",
            "2026-11-28T08:00:00.999999999Z",
            "9999-12-30T21:59:59.999999999Z",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .chain([Timestamp::MIN, Timestamp::MAX])
        .collect();
        let mut seconds: i64 = 1;
        for i in 0..20_000_i64 {
            seconds = seconds
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407)
                .rem_euclid(Timestamp::MAX.as_second() + 1);
            let nanos = (seconds ^ i).rem_euclid(1_000_000_000) as i32;
            let nanos = match i % 4 {
                0 => 0,
                1 => nanos / 1_000_000 * 1_000_000,
                2 => nanos / 1_000 * 1_000,
                _ => nanos,
            };
            cases.push(Timestamp::new(seconds, nanos).unwrap());
        }
        cases
    }

    #[test]
    fn micros_print_as_jiff_prints_them() {
        for t in timestamps() {
            assert_eq!(utc_micros(t), format!("{t:.6}"), "{t:?}");
        }
    }

    /// UTC, whole-hour offsets either side, half and three-quarter hours, a zone with
    /// summer time (both transitions are in the cases above), and one whose offset in
    /// 1970 is not what it is now.
    #[test]
    fn local_millis_print_as_strftime_prints_them() {
        let zones = [
            TimeZone::UTC,
            TimeZone::get("Asia/Jakarta").unwrap(),
            TimeZone::get("America/New_York").unwrap(),
            TimeZone::get("Europe/London").unwrap(),
            TimeZone::get("Asia/Kolkata").unwrap(),
            TimeZone::get("Asia/Kathmandu").unwrap(),
            TimeZone::get("Pacific/Chatham").unwrap(),
            TimeZone::get("Africa/Monrovia").unwrap(),
            TimeZone::fixed(jiff::tz::offset(-3)),
        ];
        for tz in &zones {
            for t in timestamps().into_iter().step_by(7) {
                let jiff = t
                    .to_zoned_datetime(tz.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
                    .to_string();
                assert_eq!(local_millis(t, tz), jiff, "{t:?} in {tz:?}");
            }
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
}
