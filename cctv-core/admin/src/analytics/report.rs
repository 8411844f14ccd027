//! The five reports, computed from a backend's visit rows and hourly counts.

use std::collections::{BTreeMap, HashMap};

use jiff::Span;
use jiff::civil::Date;
use serde::Serialize;

use super::store::{AnalyticsStore, DayRange, VisitRow};
use cctv_core::storage::StorageError;

/// One day of the new-vs-returning report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VisitDay {
    pub date: Date,
    pub unique_persons: i64,
    pub new_persons: i64,
    pub returning_persons: i64,
}

fn within(row: &VisitRow, range: DayRange, population: Option<&[i64]>) -> bool {
    row.date >= range.from
        && row.date <= range.to
        && population.is_none_or(|p| p.contains(&row.branch_id))
}

/// `range` widened by `days` before its start: what the look-back needs.
fn widened(range: DayRange, days: u32) -> DayRange {
    DayRange {
        from: range
            .from
            .checked_sub(Span::new().days(i64::from(days)))
            .unwrap_or(Date::MIN),
        to: range.to,
    }
}

/// New and returning persons for every day of `range` (zeros included), from visit rows
/// that reach back `lookback_days` before it.
pub(crate) fn visit_days(
    rows: &[VisitRow],
    range: DayRange,
    population: Option<&[i64]>,
    lookback_days: u32,
) -> Vec<VisitDay> {
    // Per person: every day seen (any branch), and whether at the population that day.
    let mut seen: HashMap<&str, Vec<(Date, bool)>> = HashMap::new();
    for r in rows {
        let counted = within(r, range, population);
        seen.entry(&r.re_id).or_default().push((r.date, counted));
    }
    let mut per_day: BTreeMap<Date, (i64, i64)> = BTreeMap::new();
    for days in seen.values_mut() {
        days.sort_unstable();
        // One entry per day, counted if any visit that day was.
        days.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 |= later.1;
                true
            } else {
                false
            }
        });
        let mut previous: Option<Date> = None;
        for &(day, counted) in days.iter() {
            if counted {
                let earliest = day
                    .checked_sub(Span::new().days(i64::from(lookback_days)))
                    .unwrap_or(Date::MIN);
                let entry = per_day.entry(day).or_default();
                entry.0 += 1;
                if previous.is_some_and(|p| p >= earliest) {
                    entry.1 += 1;
                }
            }
            previous = Some(day);
        }
    }
    range
        .days()
        .map(|date| {
            let (persons, returning) = per_day.get(&date).copied().unwrap_or((0, 0));
            VisitDay {
                date,
                unique_persons: persons,
                new_persons: persons - returning,
                returning_persons: returning,
            }
        })
        .collect()
}

/// `(dwell seconds, visits)` of the visits with two or more detections, ascending: whole
/// seconds, rounded down.
pub(crate) fn dwell_distribution(
    rows: &[VisitRow],
    range: DayRange,
    population: Option<&[i64]>,
) -> Vec<(i64, i64)> {
    let mut seconds: BTreeMap<i64, i64> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| within(r, range, population) && r.detections >= 2)
    {
        if let (Some(first), Some(last)) = (r.first_us, r.last_us) {
            *seconds
                .entry((last - first).div_euclid(1_000_000))
                .or_default() += 1;
        }
    }
    seconds.into_iter().collect()
}

/// `(from branch, to branch, transitions)`: per person and day, the branches in order of
/// first detection (ties, and visits without times last, by branch id).
pub(crate) fn transitions(rows: &[VisitRow], range: DayRange) -> Vec<(i64, i64, i64)> {
    let mut days: HashMap<(&str, Date), Vec<(i64, i64)>> = HashMap::new();
    for r in rows.iter().filter(|r| within(r, range, None)) {
        days.entry((&r.re_id, r.date))
            .or_default()
            .push((r.first_us.unwrap_or(i64::MAX), r.branch_id));
    }
    let mut pairs: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for branches in days.values_mut().filter(|b| b.len() >= 2) {
        branches.sort_unstable();
        for w in branches.windows(2) {
            *pairs.entry((w[0].1, w[1].1)).or_default() += 1;
        }
    }
    pairs.into_iter().map(|((a, b), n)| (a, b, n)).collect()
}

/// `(distinct days seen, persons)` of the persons seen at the population.
pub(crate) fn frequency_counts(
    rows: &[VisitRow],
    range: DayRange,
    population: Option<&[i64]>,
) -> Vec<(i64, i64)> {
    let mut days: HashMap<&str, Vec<Date>> = HashMap::new();
    for r in rows.iter().filter(|r| within(r, range, population)) {
        days.entry(&r.re_id).or_default().push(r.date);
    }
    let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
    for d in days.values_mut() {
        d.sort_unstable();
        d.dedup();
        *counts.entry(d.len() as i64).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// New and returning persons for every day of the range, days without visits as zeros.
pub async fn visits(
    store: &dyn AnalyticsStore,
    range: DayRange,
    branches: Option<&[i64]>,
    lookback_days: u32,
) -> Result<Vec<VisitDay>, StorageError> {
    let rows = store.visit_rows(widened(range, lookback_days)).await?;
    Ok(visit_days(&rows, range, branches, lookback_days))
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
pub(crate) const DWELL_BUCKET_MINUTES: [i64; 7] = [0, 1, 5, 15, 30, 60, 120];

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
    let rows = store.visit_rows(range).await?;
    Ok(dwell_report(&dwell_distribution(&rows, range, branches)))
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
    let rows = store.visit_rows(range).await?;
    Ok(flows_of(&transitions(&rows, range), visible, focus, name))
}

/// The flows of `transitions` as [`flows`] shows them.
pub(crate) fn flows_of(
    transitions: &[(i64, i64, i64)],
    visible: Option<&[i64]>,
    focus: Option<i64>,
    name: impl Fn(i64) -> Option<String>,
) -> Vec<Flow> {
    let sees = |b: i64| visible.is_none_or(|v| v.contains(&b));
    let mut flows: Vec<Flow> = transitions
        .iter()
        .copied()
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
    flows
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
    let rows = store.visit_rows(range).await?;
    Ok(frequency_buckets(&frequency_counts(&rows, range, branches)))
}

/// The buckets of `(days, persons)` counts, 1 to the most days, zeros included.
pub(crate) fn frequency_buckets(counts: &[(i64, i64)]) -> Vec<FrequencyBucket> {
    let counts: BTreeMap<i64, i64> = counts
        .iter()
        .copied()
        .filter(|(days, _)| *days > 0)
        .collect();
    let most = counts.keys().next_back().copied().unwrap_or(0);
    (1..=most)
        .map(|days| FrequencyBucket {
            days,
            persons: counts.get(&days).copied().unwrap_or(0),
        })
        .collect()
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

/// Every report of one range and scope, from one read of the visit rows (the page).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analytics {
    pub days: Vec<VisitDay>,
    pub dwell: DwellReport,
    pub flows: Vec<Flow>,
    pub frequency: Vec<FrequencyBucket>,
    pub cells: Vec<HeatCell>,
}

/// What a page asks: the range, whose visits count (`population`), which branches the
/// reader may see (`visible`), the branch in focus for flows, and the look-back.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub range: DayRange,
    pub population: Option<&'a [i64]>,
    pub visible: Option<&'a [i64]>,
    pub focus: Option<i64>,
    pub lookback_days: u32,
}

/// All five reports of `scope` at once.
pub async fn all(
    store: &dyn AnalyticsStore,
    scope: Scope<'_>,
    name: impl Fn(i64) -> Option<String>,
) -> Result<Analytics, StorageError> {
    let range = scope.range;
    let (rows, cells) = tokio::try_join!(
        store.visit_rows(widened(range, scope.lookback_days)),
        heatmap(store, range, scope.population),
    )?;
    Ok(Analytics {
        days: visit_days(&rows, range, scope.population, scope.lookback_days),
        dwell: dwell_report(&dwell_distribution(&rows, range, scope.population)),
        flows: flows_of(&transitions(&rows, range), scope.visible, scope.focus, name),
        frequency: frequency_buckets(&frequency_counts(&rows, range, scope.population)),
        cells,
    })
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

    fn row(re_id: &str, date: &str, branch: i64, first_s: i64, last_s: i64, n: i64) -> VisitRow {
        VisitRow {
            re_id: re_id.into(),
            date: date.parse().unwrap(),
            branch_id: branch,
            first_us: Some(first_s * 1_000_000),
            last_us: Some(last_s * 1_000_000),
            detections: n,
        }
    }

    #[test]
    fn returning_means_seen_anywhere_within_the_look_back() {
        let rows = [
            row("back", "2026-10-01", 2, 0, 0, 1),
            row("back", "2026-10-31", 1, 0, 0, 1),
            row("gone", "2026-09-30", 2, 0, 0, 1),
            row("gone", "2026-10-31", 1, 0, 0, 1),
            // Twice on the day (two branches): one person, returning once.
            row("twice", "2026-10-30", 3, 0, 0, 1),
            row("twice", "2026-10-31", 1, 0, 0, 1),
            row("twice", "2026-10-31", 2, 0, 0, 1),
        ];
        let day = "2026-10-31".parse().unwrap();
        let range = DayRange::new(day, day).unwrap();
        let d = visit_days(&rows, range, None, 30);
        assert_eq!(
            (
                d[0].unique_persons,
                d[0].returning_persons,
                d[0].new_persons
            ),
            (3, 2, 1)
        );
        // Only branch 1's persons are counted, their history anywhere still matters.
        let d = visit_days(&rows, range, Some(&[1]), 30);
        assert_eq!((d[0].unique_persons, d[0].returning_persons), (3, 2));
        let d = visit_days(&rows, range, Some(&[3]), 30);
        assert_eq!(d[0].unique_persons, 0);
    }

    #[test]
    fn flows_follow_the_first_detection_at_each_branch() {
        let rows = [
            row("p", "2026-10-31", 1, 300, 400, 2),
            row("p", "2026-10-31", 2, 100, 500, 3),
            row("p", "2026-10-31", 3, 200, 200, 1),
            row("q", "2026-10-31", 1, 100, 100, 1),
        ];
        let day = "2026-10-31".parse().unwrap();
        let range = DayRange::new(day, day).unwrap();
        assert_eq!(transitions(&rows, range), vec![(2, 3, 1), (3, 1, 1)]);
        assert_eq!(
            dwell_distribution(&rows, range, None),
            vec![(100, 1), (400, 1)]
        );
        assert_eq!(frequency_counts(&rows, range, None), vec![(1, 2)]);
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
