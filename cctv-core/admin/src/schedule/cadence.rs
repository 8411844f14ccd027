//! When a task is due: a small cadence type instead of a cron dialect.
//!
//! Four shapes cover every scheduled task and read plainly in configuration:
//! `every 5 minutes`, `daily 01:00`, `weekly sun 00:00`, `monthly 1 02:00`. Calendar
//! cadences are wall-clock times in the configured timezone; a time that a DST change
//! skips runs at the first instant after the gap, a repeated one at its first occurrence.
//! Interval cadences are instants aligned to the Unix epoch, so every node agrees on them.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

/// How often a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Every `n` minutes (1..=1440), at instants that are multiples of `n` minutes.
    EveryMinutes(u32),
    Daily {
        hour: i8,
        minute: i8,
    },
    Weekly {
        weekday: Weekday,
        hour: i8,
        minute: i8,
    },
    /// On day `day` (1..=31) of each month; a month without that day runs on its last day.
    Monthly {
        day: i8,
        hour: i8,
        minute: i8,
    },
}

/// Days scanned forward for a calendar slot; any cadence has a slot within 62 days.
const SCAN_DAYS: i32 = 62;

impl Cadence {
    /// Interval cadences coalesce missed slots (one run covers them); calendar ones do not.
    pub(crate) fn is_interval(&self) -> bool {
        matches!(self, Self::EveryMinutes(_))
    }

    /// For an interval cadence, the last slot at or before `t` (`t` itself for calendar
    /// cadences, which the scheduler walks slot by slot instead).
    pub(crate) fn latest_at_or_before(&self, t: Timestamp) -> Timestamp {
        match *self {
            Self::EveryMinutes(n) => {
                let step = i64::from(n.clamp(1, 1440)) * 60;
                Timestamp::from_second(t.as_second().div_euclid(step) * step).unwrap_or(t)
            }
            _ => t,
        }
    }

    /// The first slot strictly after `t`.
    pub(crate) fn next_after(&self, t: Timestamp, tz: &TimeZone) -> Timestamp {
        if let Self::EveryMinutes(n) = *self {
            let step = i64::from(n.clamp(1, 1440)) * 60;
            let next = (t.as_second().div_euclid(step) + 1) * step;
            return Timestamp::from_second(next).unwrap_or(Timestamp::MAX);
        }
        let mut date = tz.to_datetime(t).date();
        for _ in 0..SCAN_DAYS {
            if let Some(slot) = self.slot_on(date, tz)
                && slot > t
            {
                return slot;
            }
            match date.tomorrow() {
                Ok(d) => date = d,
                Err(_) => break,
            }
        }
        Timestamp::MAX
    }

    /// The calendar slot on local `date`, if the cadence has one that day.
    fn slot_on(&self, date: Date, tz: &TimeZone) -> Option<Timestamp> {
        let (hour, minute) = match *self {
            Self::EveryMinutes(_) => return None,
            Self::Daily { hour, minute } => (hour, minute),
            Self::Weekly {
                weekday,
                hour,
                minute,
            } => {
                if date.weekday() != weekday {
                    return None;
                }
                (hour, minute)
            }
            Self::Monthly { day, hour, minute } => {
                if date.day() != day.min(date.days_in_month()) {
                    return None;
                }
                (hour, minute)
            }
        };
        date.at(hour, minute, 0, 0)
            .to_zoned_datetime(tz.clone())
            .ok()
            .map(|z| z.timestamp())
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::EveryMinutes(1) => write!(f, "every 1 minute"),
            Self::EveryMinutes(n) => write!(f, "every {n} minutes"),
            Self::Daily { hour, minute } => write!(f, "daily {hour:02}:{minute:02}"),
            Self::Weekly {
                weekday,
                hour,
                minute,
            } => write!(f, "weekly {} {hour:02}:{minute:02}", day_name(weekday)),
            Self::Monthly { day, hour, minute } => {
                write!(f, "monthly {day} {hour:02}:{minute:02}")
            }
        }
    }
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

fn day_name(weekday: Weekday) -> &'static str {
    DAYS.iter()
        .find(|(_, d)| *d == weekday)
        .map_or("?", |(n, _)| n)
}

fn hh_mm(s: &str) -> Result<(i8, i8), String> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("expected HH:MM, got {s:?}"))?;
    let hour: i8 = h.parse().map_err(|_| format!("bad hour in {s:?}"))?;
    let minute: i8 = m.parse().map_err(|_| format!("bad minute in {s:?}"))?;
    if !(0..24).contains(&hour) || !(0..60).contains(&minute) || m.len() != 2 {
        return Err(format!("{s:?} is not a time of day"));
    }
    Ok((hour, minute))
}

impl FromStr for Cadence {
    type Err = String;

    /// `every N minute(s)`, `daily HH:MM`, `weekly mon..sun HH:MM`, `monthly D HH:MM`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let words: Vec<String> = s.split_whitespace().map(str::to_lowercase).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["every", n, "minute" | "minutes"] => match n.parse::<u32>() {
                Ok(n @ 1..=1440) => Ok(Self::EveryMinutes(n)),
                _ => Err(format!("{s:?}: minutes must be 1 to 1440")),
            },
            ["daily", at] => hh_mm(at).map(|(hour, minute)| Self::Daily { hour, minute }),
            ["weekly", day, at] => {
                let weekday = DAYS
                    .iter()
                    .find(|(n, _)| day.starts_with(n))
                    .map(|(_, d)| *d)
                    .ok_or_else(|| format!("{s:?}: unknown weekday {day:?}"))?;
                let (hour, minute) = hh_mm(at)?;
                Ok(Self::Weekly {
                    weekday,
                    hour,
                    minute,
                })
            }
            ["monthly", day, at] => match day.parse::<i8>() {
                Ok(day @ 1..=31) => {
                    let (hour, minute) = hh_mm(at)?;
                    Ok(Self::Monthly { day, hour, minute })
                }
                _ => Err(format!("{s:?}: day of month must be 1 to 31")),
            },
            _ => Err(format!(
                "{s:?}: expected \"every N minutes\", \"daily HH:MM\", \"weekly DAY HH:MM\" or \"monthly D HH:MM\""
            )),
        }
    }
}
