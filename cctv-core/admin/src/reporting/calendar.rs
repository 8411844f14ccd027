//! Local days and months in the configured timezone.
//!
//! A local day is not always 24 hours: on a DST change it has 23 or 25, and in a few zones
//! midnight itself is skipped. Bounds are therefore computed as "the first instant of this
//! date" and "the first instant of the next date", never as `start + 24h`.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

use super::ReportError;

/// The instants `[start, end)` of the local `date` in `tz`: rows with `start <= detected_at <
/// end` belong to that date. Handles 23- and 25-hour days and a midnight that does not exist
/// (the day then starts at the first instant that does).
pub fn local_day_bounds(date: Date, tz: &TimeZone) -> Result<(Timestamp, Timestamp), ReportError> {
    let next = date.tomorrow().map_err(out_of_range)?;
    Ok((start_of(date, tz)?, start_of(next, tz)?))
}

/// The instants `[start, end)` of the local calendar month `year-month` in `tz`.
pub fn month_bounds(
    year: i16,
    month: i8,
    tz: &TimeZone,
) -> Result<(Timestamp, Timestamp), ReportError> {
    let first = Date::new(year, month, 1).map_err(out_of_range)?;
    let next = first.last_of_month().tomorrow().map_err(out_of_range)?;
    Ok((start_of(first, tz)?, start_of(next, tz)?))
}

/// Every date of the calendar month `year-month`, in order (28 to 31 of them).
pub fn month_days(year: i16, month: i8) -> Result<Vec<Date>, ReportError> {
    let first = Date::new(year, month, 1).map_err(out_of_range)?;
    let len = usize::try_from(first.days_in_month()).unwrap_or(0);
    Ok(first.series(Span::new().days(1)).take(len).collect())
}

/// How many days of `year-month` have begun by local date `today`: the whole month once it is
/// over, `today`'s day of the month while it runs (today counts, so the average is defined
/// from the first morning on), and 0 before it starts. The divisor of
/// [`MonthlyReport::avg_detections_per_day`](super::MonthlyReport::avg_detections_per_day).
pub fn days_counted(year: i16, month: i8, today: Date) -> Result<u32, ReportError> {
    let first = Date::new(year, month, 1).map_err(out_of_range)?;
    Ok(if today < first {
        0
    } else if today > first.last_of_month() {
        days(first.days_in_month())
    } else {
        days(today.day())
    })
}

/// The local date and hour (0–23) of an instant.
pub(super) fn local_date_hour(at: Timestamp, tz: &TimeZone) -> (Date, usize) {
    let local: DateTime = tz.to_datetime(at);
    (local.date(), usize::try_from(local.hour()).unwrap_or(0))
}

fn start_of(date: Date, tz: &TimeZone) -> Result<Timestamp, ReportError> {
    // `to_zoned_datetime` resolves a skipped midnight forward and a repeated one to its
    // first occurrence: either way, the first instant of the local date.
    date.to_zoned_datetime(tz.clone())
        .map(|zoned| zoned.timestamp())
        .map_err(out_of_range)
}

fn days(day: i8) -> u32 {
    u32::try_from(day).unwrap_or(0)
}

fn out_of_range(error: jiff::Error) -> ReportError {
    ReportError::Rejected(format!("date out of range: {error}"))
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn hours(bounds: (Timestamp, Timestamp)) -> i64 {
        bounds.1.duration_since(bounds.0).as_secs() / 3600
    }

    #[test]
    fn a_jakarta_day_starts_at_17_utc_the_day_before() {
        let (start, end) = local_day_bounds(date(2026, 11, 28), &tz("Asia/Jakarta")).unwrap();
        assert_eq!(start, "2026-11-27T17:00:00Z".parse().unwrap());
        assert_eq!(end, "2026-11-28T17:00:00Z".parse().unwrap());
    }

    #[test]
    fn new_york_days_around_dst_last_23_and_25_hours() {
        let ny = tz("America/New_York");
        assert_eq!(hours(local_day_bounds(date(2026, 3, 8), &ny).unwrap()), 23);
        assert_eq!(hours(local_day_bounds(date(2026, 11, 1), &ny).unwrap()), 25);
        assert_eq!(hours(local_day_bounds(date(2026, 3, 9), &ny).unwrap()), 24);
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_at_one_oclock() {
        // Chile sprang forward at midnight on 2022-09-11: 00:00 became 01:00.
        let santiago = tz("America/Santiago");
        let (start, end) = local_day_bounds(date(2022, 9, 11), &santiago).unwrap();
        assert_eq!(
            santiago.to_datetime(start),
            date(2022, 9, 11).at(1, 0, 0, 0)
        );
        assert_eq!(end.duration_since(start).as_secs(), 23 * 3600);
    }

    #[test]
    fn month_bounds_cover_the_whole_local_month() {
        let (start, end) = month_bounds(2026, 2, &tz("Asia/Jakarta")).unwrap();
        assert_eq!(start, "2026-01-31T17:00:00Z".parse().unwrap());
        assert_eq!(end, "2026-02-28T17:00:00Z".parse().unwrap());
    }

    #[test]
    fn month_days_lists_every_date_including_leap_days() {
        assert_eq!(month_days(2028, 2).unwrap().len(), 29);
        assert_eq!(month_days(2026, 2).unwrap().len(), 28);
        let december = month_days(2026, 12).unwrap();
        assert_eq!(
            (december[0], december[30]),
            (date(2026, 12, 1), date(2026, 12, 31))
        );
        assert!(month_days(2026, 13).is_err());
    }

    #[test]
    fn days_counted_is_elapsed_days_for_the_current_month_only() {
        assert_eq!(days_counted(2026, 11, date(2026, 12, 3)).unwrap(), 30);
        assert_eq!(days_counted(2026, 11, date(2026, 11, 17)).unwrap(), 17);
        assert_eq!(days_counted(2026, 11, date(2026, 10, 31)).unwrap(), 0);
    }

    #[test]
    fn local_hour_follows_the_timezone() {
        let at = "2026-11-27T17:30:00Z".parse().unwrap();
        assert_eq!(
            local_date_hour(at, &tz("Asia/Jakarta")),
            (date(2026, 11, 28), 0)
        );
        assert_eq!(
            local_date_hour(at, &TimeZone::UTC),
            (date(2026, 11, 27), 17)
        );
    }
}
