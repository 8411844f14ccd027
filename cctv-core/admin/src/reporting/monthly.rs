//! The monthly report: one calendar month, persons counted distinct over the whole month.
//!
//! The original system reported the largest daily `unique_persons` as the month's figure and
//! added the overall row to the branch rows (both defects). Here every figure is
//! computed from the detection rows of the month, so a person seen on ten days is one person
//! of the month, and ten person-days in the daily breakdown.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::calendar::{local_date_hour, month_days};
use super::daily::outside;
use super::dashboard::{BranchStats, branch_stats};
use super::persons::{PersonKeys, PersonValues};
use super::tally::{Counts, Keys, first_max};
use super::{DetectionRow, ReportError};

/// `counting_reports.report_data` of a monthly report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyReport {
    /// `YYYY-MM`.
    pub month: String,
    pub total_detections: u64,
    pub total_detected_count: i64,
    /// Distinct `re_id`s over the whole month (not a sum or maximum of daily figures).
    pub unique_persons: u64,
    pub unique_devices: u64,
    pub total_events: u64,
    /// One entry per calendar day of the month, in order, zero-filled.
    pub daily_breakdown: Vec<DayStats>,
    /// The divisor of `avg_detections_per_day`: the days of the month that have begun (see
    /// [`days_counted`](super::days_counted)), so a running month is not diluted by days
    /// still to come.
    pub days_counted: u32,
    /// `total_detections / days_counted`, rounded to 2 decimals; 0 when no day is counted.
    pub avg_detections_per_day: f64,
    /// The date with most detections, the earliest on ties; `null` with no detections.
    pub busiest_day: Option<Date>,
    /// Every branch seen, most detections first (ties by `branch_id`): a single entry in a
    /// branch's own report, the comparison in the overall one.
    pub branch_breakdown: Vec<BranchStats>,
}

/// One day of [`MonthlyReport::daily_breakdown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayStats {
    pub date: Date,
    pub detections: u64,
    pub detected_count: i64,
    /// Distinct persons seen that day.
    pub unique_persons: u64,
    pub events: u64,
}

/// Builds a [`MonthlyReport`] from a stream of rows; memory grows with distinct persons,
/// devices and branches, not with rows.
#[derive(Debug)]
pub struct MonthlyAccumulator {
    days: Vec<Date>,
    tz: TimeZone,
    total: Counts,
    events: u64,
    day_counts: Vec<Counts>,
    day_events: Vec<u64>,
    devices: Keys<String>,
    branches: Keys<i64>,
    branch_counts: Vec<Counts>,
    keys: PersonKeys,
    /// By person number: bit `d` set when seen on day `d + 1` (a month has at most 31 days).
    person_days: Vec<u32>,
    person_branches: PersonValues,
}

impl MonthlyAccumulator {
    /// An empty report for the local calendar month `year-month` in `tz`.
    pub(crate) fn new(year: i16, month: i8, tz: TimeZone) -> Result<Self, ReportError> {
        let days = month_days(year, month)?;
        Ok(Self {
            day_counts: vec![Counts::default(); days.len()],
            day_events: vec![0; days.len()],
            days,
            tz,
            total: Counts::default(),
            events: 0,
            devices: Keys::default(),
            branches: Keys::default(),
            branch_counts: Vec::new(),
            keys: PersonKeys::default(),
            person_days: Vec::new(),
            person_branches: PersonValues::default(),
        })
    }

    /// Adds one detection; a row whose local date is in another month is refused.
    pub(crate) fn push(&mut self, row: &DetectionRow) -> Result<(), ReportError> {
        let day = self.day_index(row.detected_at)?;
        self.total.add(row.detected_count);
        self.day_counts[day].add(row.detected_count);
        self.devices.index(row.device_id.as_str());
        let (branch, new_branch) = self.branches.index(&row.branch_id);
        if new_branch {
            self.branch_counts.push(Counts::default());
        }
        self.branch_counts[branch as usize].add(row.detected_count);

        let (person, new_person) = self.keys.index(&row.re_id);
        if new_person {
            self.person_days.push(0);
            self.total.persons += 1;
        }
        if let Some(days) = self.person_days.get_mut(person as usize)
            && *days & (1 << day) == 0
        {
            *days |= 1 << day;
            self.day_counts[day].persons += 1;
        }
        if self.person_branches.insert(person, branch) {
            self.branch_counts[branch as usize].persons += 1;
        }
        Ok(())
    }

    /// Counts one event logged at `at`; refused when `at` is in another month.
    pub fn push_event(&mut self, at: Timestamp) -> Result<(), ReportError> {
        let day = self.day_index(at)?;
        self.day_events[day] += 1;
        self.events += 1;
        Ok(())
    }

    /// Counts `count` events of local `date` counted elsewhere.
    pub(crate) fn add_events(&mut self, date: Date, count: u64) -> Result<(), ReportError> {
        let day =
            self.days.iter().position(|d| *d == date).ok_or_else(|| {
                ReportError::Rejected(format!("{date} is outside {}", self.label()))
            })?;
        self.day_events[day] += count;
        self.events += count;
        Ok(())
    }

    /// The report, averaging over `days_counted` days (clamped to the month's length; pass
    /// [`days_counted`](super::days_counted) for "days elapsed so far").
    pub(crate) fn finish(self, days_counted: u32) -> MonthlyReport {
        let month = self.label();
        let days_counted = days_counted.min(self.days.len() as u32);
        let avg_detections_per_day = if days_counted == 0 {
            0.0
        } else {
            (self.total.detections as f64 / f64::from(days_counted) * 100.0).round() / 100.0
        };
        let busiest_day =
            first_max(self.day_counts.iter().map(|c| c.detections)).map(|i| self.days[i]);
        let daily_breakdown = self
            .days
            .iter()
            .zip(&self.day_counts)
            .zip(&self.day_events)
            .map(|((&date, c), &events)| DayStats {
                date,
                detections: c.detections,
                detected_count: c.detected_count,
                unique_persons: c.persons,
                events,
            })
            .collect();
        MonthlyReport {
            month,
            total_detections: self.total.detections,
            total_detected_count: self.total.detected_count,
            unique_persons: self.total.persons,
            unique_devices: self.devices.len() as u64,
            total_events: self.events,
            daily_breakdown,
            days_counted,
            avg_detections_per_day,
            busiest_day,
            branch_breakdown: branch_stats(self.branches, self.branch_counts),
        }
    }

    fn day_index(&self, at: Timestamp) -> Result<usize, ReportError> {
        let (date, _) = local_date_hour(at, &self.tz);
        let first = self.days[0];
        if date.year() != first.year() || date.month() != first.month() {
            return Err(outside(at, self.label()));
        }
        Ok(usize::try_from(date.day() - 1).unwrap_or(0))
    }

    fn label(&self) -> String {
        let first = self.days[0];
        format!("{:04}-{:02}", first.year(), first.month())
    }
}
