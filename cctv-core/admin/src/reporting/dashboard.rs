//! The reports dashboard: totals, a daily trend and the top branches over a date range.
//!
//! The original summed per-day distinct counts (a person seen on five days counted five
//! times) and left days without detections out of the trend. Here persons
//! and devices are distinct over the whole range and the trend has every date of it.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::calendar::local_date_hour;
use super::daily::outside;
use super::persons::{PersonKeys, PersonValues};
use super::tally::{Counts, Keys};
use super::{DetectionRow, ReportError};
use cctv_core::query::{DayCount, DeviceDayCount, RangePersons};

/// Longest accepted range, in days (a leap year): the trend has one entry per day.
pub const MAX_DASHBOARD_DAYS: u32 = 366;
/// How many branches [`DashboardReport::top_branches`] lists.
const TOP_BRANCHES: usize = 10;

/// Dashboard figures over `[date_from, date_to]` (both included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardReport {
    pub date_from: Date,
    pub date_to: Date,
    pub total_detections: u64,
    pub total_detected_count: i64,
    /// Distinct `re_id`s over the whole range.
    pub unique_persons: u64,
    /// The distinct persons (overall and per branch) are the last computed ones, from
    /// before the latest detections of the range; a refresh is running.
    #[serde(default)]
    pub persons_stale: bool,
    /// The distinct persons are not known yet (a first scan runs): `unique_persons` and
    /// the branches' `unique_persons` are 0 placeholders.
    #[serde(default)]
    pub persons_pending: bool,
    pub unique_branches: u64,
    /// Distinct devices over the whole range.
    pub unique_devices: u64,
    pub total_events: u64,
    /// One entry per date of the range, in order, zero-filled.
    pub daily_trend: Vec<TrendDay>,
    /// The 10 branches with most detections (ties by `branch_id`); branches without
    /// detections are not listed. Names are joined by the caller.
    pub top_branches: Vec<BranchStats>,
}

/// One date of [`DashboardReport::daily_trend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrendDay {
    pub date: Date,
    pub detections: u64,
    pub detected_count: i64,
    pub events: u64,
}

/// One branch of a ranking or breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchStats {
    pub branch_id: i64,
    pub detections: u64,
    pub detected_count: i64,
    /// Distinct persons seen at this branch over the period.
    pub unique_persons: u64,
}

/// Builds a [`DashboardReport`] from a stream of rows.
#[derive(Debug)]
pub struct DashboardAccumulator {
    from: Date,
    to: Date,
    tz: TimeZone,
    total: Counts,
    events: u64,
    days: Vec<(Counts, u64)>,
    devices: Keys<String>,
    branches: Keys<i64>,
    branch_counts: Vec<Counts>,
    keys: PersonKeys,
    person_branches: PersonValues,
}

impl DashboardAccumulator {
    /// An empty dashboard for local dates `from..=to` in `tz`; refused when `from > to` or
    /// the range is longer than [`MAX_DASHBOARD_DAYS`].
    pub(crate) fn new(from: Date, to: Date, tz: TimeZone) -> Result<Self, ReportError> {
        let days = to.duration_since(from).as_secs() / 86_400 + 1;
        if from > to || days > i64::from(MAX_DASHBOARD_DAYS) {
            return Err(ReportError::Rejected(format!(
                "date range {from}..{to} must be ordered and at most {MAX_DASHBOARD_DAYS} days"
            )));
        }
        Ok(Self {
            from,
            to,
            tz,
            total: Counts::default(),
            events: 0,
            days: vec![(Counts::default(), 0); usize::try_from(days).unwrap_or(0)],
            devices: Keys::default(),
            branches: Keys::default(),
            branch_counts: Vec::new(),
            keys: PersonKeys::default(),
            person_branches: PersonValues::default(),
        })
    }

    /// Adds one detection; a row whose local date is outside the range is refused.
    pub fn push(&mut self, row: &DetectionRow) -> Result<(), ReportError> {
        let day = self.day_index(row.detected_at)?;
        self.total.add(row.detected_count);
        self.days[day].0.add(row.detected_count);
        self.devices.index(row.device_id.as_str());
        let (branch, new_branch) = self.branches.index(&row.branch_id);
        if new_branch {
            self.branch_counts.push(Counts::default());
        }
        self.branch_counts[branch as usize].add(row.detected_count);
        let (person, new_person) = self.keys.index(&row.re_id);
        if new_person {
            self.total.persons += 1;
        }
        if self.person_branches.insert(person, branch) {
            self.branch_counts[branch as usize].persons += 1;
        }
        Ok(())
    }

    /// Counts one event logged at `at`; refused when its local date is outside the range.
    pub fn push_event(&mut self, at: Timestamp) -> Result<(), ReportError> {
        let day = self.day_index(at)?;
        self.days[day].1 += 1;
        self.events += 1;
        Ok(())
    }

    /// Counts `count` events of local `date` counted elsewhere.
    pub fn add_events(&mut self, date: Date, count: u64) -> Result<(), ReportError> {
        let day = self.date_index(date).ok_or_else(|| {
            ReportError::Rejected(format!("{date} is outside {}..{}", self.from, self.to))
        })?;
        self.days[day].1 += count;
        self.events += count;
        Ok(())
    }

    pub(crate) fn finish(self) -> DashboardReport {
        let daily_trend = (0_i64..)
            .zip(&self.days)
            .map(|(offset, (c, events))| TrendDay {
                date: self.from.saturating_add(jiff::Span::new().days(offset)),
                detections: c.detections,
                detected_count: c.detected_count,
                events: *events,
            })
            .collect();
        let unique_branches = self.branches.len() as u64;
        let mut top_branches = branch_stats(self.branches, self.branch_counts);
        top_branches.truncate(TOP_BRANCHES);
        DashboardReport {
            date_from: self.from,
            date_to: self.to,
            total_detections: self.total.detections,
            total_detected_count: self.total.detected_count,
            unique_persons: self.total.persons,
            persons_stale: false,
            persons_pending: false,
            unique_branches,
            unique_devices: self.devices.len() as u64,
            total_events: self.events,
            daily_trend,
            top_branches,
        }
    }

    fn day_index(&self, at: Timestamp) -> Result<usize, ReportError> {
        let (date, _) = local_date_hour(at, &self.tz);
        self.date_index(date)
            .ok_or_else(|| outside(at, format_args!("{}..{}", self.from, self.to)))
    }

    fn date_index(&self, date: Date) -> Option<usize> {
        if date < self.from || date > self.to {
            return None;
        }
        usize::try_from(date.duration_since(self.from).as_secs() / 86_400).ok()
    }
}

/// The running totals a [`DashboardReport`] is assembled from, all over the same range
/// and branch selection (see [`cctv_core::query::DayCount`]).
#[derive(Debug, Clone, Default)]
pub struct DashboardCounts {
    pub days: Vec<DayCount>,
    pub devices: Vec<DeviceDayCount>,
    pub persons: RangePersons,
}

/// Distinct persons of `from..=to` read off the day totals, when they give it exactly:
/// detections on one date only (distinct over the range = distinct that day), for all
/// branches or one (several branches of one day may share persons: `None`, scan instead).
pub fn persons_from_days(
    days: &[DayCount],
    from: Date,
    to: Date,
    branches: Option<&[i64]>,
) -> Option<RangePersons> {
    if branches.is_some_and(|l| l.len() != 1) {
        return None;
    }
    let in_range = |c: &&DayCount| c.date >= from && c.date <= to && c.detections > 0;
    let wanted = branches.and_then(|l| l.first().copied());
    let selected: Vec<&DayCount> = days
        .iter()
        .filter(in_range)
        .filter(|c| c.branch_id == wanted)
        .collect();
    match selected.as_slice() {
        [] => Some(RangePersons::default()),
        [one] => Some(RangePersons {
            unique_persons: one.persons,
            per_branch: days
                .iter()
                .filter(in_range)
                .filter_map(|c| Some((c.branch_id?, c.persons)))
                .filter(|(b, _)| wanted.is_none_or(|w| w == *b))
                .collect(),
        }),
        _ => None,
    }
}

/// Assembles the dashboard of `from..=to` from running totals instead of detection rows:
/// the same figures as [`DashboardAccumulator`] over the same detections, at a cost that
/// does not grow with their number. `branches` selects branch rows (summed) instead of
/// the all-branches rows.
pub fn dashboard_from_counts(
    from: Date,
    to: Date,
    branches: Option<&[i64]>,
    counts: &DashboardCounts,
) -> Result<DashboardReport, ReportError> {
    let mut acc = DashboardAccumulator::new(from, to, TimeZone::UTC)?;
    let selected = |b: Option<i64>| match (branches, b) {
        (None, None) => true,
        (Some(list), Some(b)) => list.contains(&b),
        _ => false,
    };
    let mut per_branch: std::collections::BTreeMap<i64, Counts> = Default::default();
    for c in counts
        .days
        .iter()
        .filter(|c| c.date >= from && c.date <= to)
    {
        if let Some(b) = c.branch_id
            && branches.is_none_or(|list| list.contains(&b))
            && c.detections > 0
        {
            let e = per_branch.entry(b).or_default();
            e.detections += c.detections as u64;
            e.detected_count += c.detected_count;
        }
        if !selected(c.branch_id) {
            continue;
        }
        let Some(day) = acc.date_index(c.date) else {
            continue;
        };
        acc.days[day].0.detections += c.detections as u64;
        acc.days[day].0.detected_count += c.detected_count;
        acc.days[day].1 += c.events as u64;
        acc.events += c.events as u64;
        acc.total.detections += c.detections as u64;
        acc.total.detected_count += c.detected_count;
    }
    for (b, n) in &counts.persons.per_branch {
        if let Some(e) = per_branch.get_mut(b) {
            e.persons = *n as u64;
        }
    }
    acc.total.persons = counts.persons.unique_persons as u64;
    for d in counts
        .devices
        .iter()
        .filter(|d| d.date >= from && d.date <= to && d.detections > 0)
        .filter(|d| branches.is_none_or(|list| list.contains(&d.branch_id)))
    {
        acc.devices.index(d.device_id.as_str());
    }
    for (b, c) in per_branch {
        acc.branches.index(&b);
        acc.branch_counts.push(c);
    }
    Ok(acc.finish())
}

/// Per-branch statistics, most detections first, ties by `branch_id`.
pub(super) fn branch_stats(branches: Keys<i64>, counts: Vec<Counts>) -> Vec<BranchStats> {
    let mut all: Vec<BranchStats> = branches
        .into_keys()
        .into_iter()
        .zip(counts)
        .map(|(branch_id, c)| BranchStats {
            branch_id,
            detections: c.detections,
            detected_count: c.detected_count,
            unique_persons: c.persons,
        })
        .collect();
    all.sort_by(|a, b| {
        b.detections
            .cmp(&a.detections)
            .then_with(|| a.branch_id.cmp(&b.branch_id))
    });
    all
}
