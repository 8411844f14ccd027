//! The five reports, built from a backend's aggregations.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use serde::Serialize;

use super::store::{AnalyticsStore, DayRange};
use crate::storage::StorageError;

/// One day of the new-vs-returning report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VisitDay {
    pub date: Date,
    pub unique_persons: i64,
    pub new_persons: i64,
    pub returning_persons: i64,
}

/// New and returning persons for every day of the range, days without visits as zeros.
pub async fn visits(
    store: &dyn AnalyticsStore,
    range: DayRange,
    branches: Option<&[i64]>,
    lookback_days: u32,
) -> Result<Vec<VisitDay>, StorageError> {
    let rows: HashMap<Date, (i64, i64)> = store
        .visit_days(range, branches, lookback_days)
        .await?
        .into_iter()
        .map(|r| (r.date, (r.persons, r.returning)))
        .collect();
    Ok(range
        .days()
        .map(|date| {
            let (persons, returning) = rows.get(&date).copied().unwrap_or((0, 0));
            VisitDay {
                date,
                unique_persons: persons,
                new_persons: persons - returning,
                returning_persons: returning,
            }
        })
        .collect())
}

/// A bucket of the dwell histogram: `from_seconds <= dwell < to_seconds` (`None`: no
/// upper bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DwellBucket {
    pub from_seconds: i64,
    pub to_seconds: Option<i64>,
    pub visits: i64,
}

/// Dwell times of the visits with two or more detections; the statistics are `None`
/// without such visits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DwellReport {
    pub visits: i64,
    pub mean_seconds: Option<f64>,
    pub p50_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
    pub max_seconds: Option<i64>,
    pub histogram: Vec<DwellBucket>,
}

/// The histogram's bucket edges in minutes: 0–1, 1–5, 5–15, 15–30, 30–60, 60–120, 120+.
pub const DWELL_BUCKET_MINUTES: [i64; 7] = [0, 1, 5, 15, 30, 60, 120];

/// The dwell report of a `(seconds, visits)` distribution (any order).
pub fn dwell_report(distribution: &[(i64, i64)]) -> DwellReport {
    let mut sorted = distribution.to_vec();
    sorted.sort_unstable();
    let visits: i64 = sorted.iter().map(|(_, n)| n).sum();
    let mut histogram: Vec<DwellBucket> = DWELL_BUCKET_MINUTES
        .iter()
        .enumerate()
        .map(|(i, from)| DwellBucket {
            from_seconds: from * 60,
            to_seconds: DWELL_BUCKET_MINUTES.get(i + 1).map(|to| to * 60),
            visits: 0,
        })
        .collect();
    for &(seconds, n) in &sorted {
        if let Some(bucket) = histogram
            .iter_mut()
            .rev()
            .find(|b| seconds >= b.from_seconds)
        {
            bucket.visits += n;
        }
    }
    let total: i128 = sorted
        .iter()
        .map(|&(s, n)| i128::from(s) * i128::from(n))
        .sum();
    DwellReport {
        visits,
        mean_seconds: (visits > 0).then(|| total as f64 / visits as f64),
        p50_seconds: nearest_rank(&sorted, visits, 50),
        p90_seconds: nearest_rank(&sorted, visits, 90),
        max_seconds: sorted.last().map(|(s, _)| *s),
        histogram,
    }
}

/// The `p`-th percentile by nearest rank: the value at rank ⌈p/100 · n⌉ (1-based) of the
/// ascending list that `sorted` compresses as `(value, repetitions)`.
fn nearest_rank(sorted: &[(i64, i64)], n: i64, p: i64) -> Option<i64> {
    if n == 0 {
        return None;
    }
    let rank = (p * n + 99) / 100;
    let mut seen = 0;
    for &(value, count) in sorted {
        seen += count;
        if seen >= rank.max(1) {
            return Some(value);
        }
    }
    sorted.last().map(|(v, _)| *v)
}

/// Dwell times over the range at `branches`.
pub async fn dwell(
    store: &dyn AnalyticsStore,
    range: DayRange,
    branches: Option<&[i64]>,
) -> Result<DwellReport, StorageError> {
    Ok(dwell_report(&store.dwell_seconds(range, branches).await?))
}

/// Transitions from one branch to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub from_branch_id: i64,
    pub from_branch_name: String,
    pub to_branch_id: i64,
    pub to_branch_name: String,
    pub persons: i64,
}

/// The flows between branches both visible to the caller (`visible: None`: all), only
/// those into or out of `focus` when given; most persons first, then by branch ids.
/// `name` gives a branch's name (its id when it has none).
pub async fn flows(
    store: &dyn AnalyticsStore,
    range: DayRange,
    visible: Option<&[i64]>,
    focus: Option<i64>,
    name: impl Fn(i64) -> Option<String>,
) -> Result<Vec<Flow>, StorageError> {
    let sees = |b: i64| visible.is_none_or(|v| v.contains(&b));
    let mut flows: Vec<Flow> = store
        .transitions(range)
        .await?
        .into_iter()
        .filter(|&(from, to, n)| n > 0 && sees(from) && sees(to))
        .filter(|&(from, to, _)| focus.is_none_or(|f| from == f || to == f))
        .map(|(from, to, persons)| Flow {
            from_branch_id: from,
            from_branch_name: name(from).unwrap_or_else(|| format!("#{from}")),
            to_branch_id: to,
            to_branch_name: name(to).unwrap_or_else(|| format!("#{to}")),
            persons,
        })
        .collect();
    flows.sort_by(|a, b| {
        b.persons
            .cmp(&a.persons)
            .then(a.from_branch_id.cmp(&b.from_branch_id))
            .then(a.to_branch_id.cmp(&b.to_branch_id))
    });
    Ok(flows)
}

/// Persons seen on `days` distinct days of the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrequencyBucket {
    pub days: i64,
    pub persons: i64,
}

/// Visit frequency: one bucket for every number of days from 1 to the most any person
/// was seen (zeros included), so a chart has no gaps.
pub async fn frequency(
    store: &dyn AnalyticsStore,
    range: DayRange,
    branches: Option<&[i64]>,
) -> Result<Vec<FrequencyBucket>, StorageError> {
    let counts: BTreeMap<i64, i64> = store
        .visit_frequency(range, branches)
        .await?
        .into_iter()
        .filter(|(days, _)| *days > 0)
        .collect();
    let most = counts.keys().next_back().copied().unwrap_or(0);
    Ok((1..=most)
        .map(|days| FrequencyBucket {
            days,
            persons: counts.get(&days).copied().unwrap_or(0),
        })
        .collect())
}

/// Detections in one hour of one ISO weekday (1 = Monday … 7 = Sunday) over the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HeatCell {
    pub weekday: i8,
    pub hour: i8,
    pub detections: i64,
}

/// The busy-hours heatmap: all 168 cells, Monday 00:00 first.
pub async fn heatmap(
    store: &dyn AnalyticsStore,
    range: DayRange,
    branches: Option<&[i64]>,
) -> Result<Vec<HeatCell>, StorageError> {
    let mut cells: Vec<HeatCell> = (1..=7)
        .flat_map(|weekday| {
            (0..24).map(move |hour| HeatCell {
                weekday,
                hour,
                detections: 0,
            })
        })
        .collect();
    for (date, hour, n) in store.hour_counts(range, branches).await? {
        if !(0..24).contains(&hour) || date < range.from || date > range.to {
            continue;
        }
        let weekday = date.weekday().to_monday_one_offset();
        cells[(weekday as usize - 1) * 24 + hour as usize].detections += n;
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        // 1..=10 once each: p50 is the 5th value, p90 the 9th.
        let d: Vec<(i64, i64)> = (1..=10).map(|s| (s, 1)).collect();
        let r = dwell_report(&d);
        assert_eq!(
            (r.p50_seconds, r.p90_seconds, r.max_seconds),
            (Some(5), Some(9), Some(10))
        );
        assert_eq!(r.mean_seconds, Some(5.5));
        // One value: every percentile is it.
        let r = dwell_report(&[(42, 3)]);
        assert_eq!((r.p50_seconds, r.p90_seconds), (Some(42), Some(42)));
        // Nothing: no statistics, empty buckets.
        let r = dwell_report(&[]);
        assert_eq!((r.visits, r.mean_seconds, r.p50_seconds), (0, None, None));
        assert!(r.histogram.iter().all(|b| b.visits == 0));
    }

    #[test]
    fn histogram_buckets_include_their_lower_edge() {
        let r = dwell_report(&[
            (0, 1),
            (59, 1),
            (60, 1),
            (299, 1),
            (300, 2),
            (7199, 1),
            (7200, 4),
        ]);
        let v: Vec<i64> = r.histogram.iter().map(|b| b.visits).collect();
        assert_eq!(v, vec![2, 2, 2, 0, 0, 1, 4]);
        assert_eq!(r.histogram[6].to_seconds, None);
        assert_eq!(r.histogram[1].from_seconds, 60);
        assert_eq!(r.histogram[1].to_seconds, Some(300));
    }
}
