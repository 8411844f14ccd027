//! Distinct persons of recent dashboard ranges, remembered with the day totals they were
//! computed from.
//!
//! Distinct persons over several days need a scan of the (date, branch, re_id) index:
//! about a second for a million detections spread over a week. Everything else on the
//! dashboard comes from day totals. The day totals of the range are a signature: while
//! they are unchanged no detection arrived in the range, so the remembered figure is
//! exact. When they changed, the last figure is answered at once, marked stale, while one
//! background scan refreshes it (reports are cache-first: a request is answered with the last version).
//! A range never computed is scanned once, in the background; whoever asks meanwhile is
//! told it is being computed.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::civil::Date;

use cctv_core::query::{DayCount, RangePersons};

/// Ranges remembered at most (a dashboard is viewed for a handful of ranges at a time).
const CAPACITY: usize = 64;

/// `(from, to, branches)`: branches sorted, `None` for all.
pub(crate) type RangeKey = (Date, Date, Option<Vec<i64>>);

/// `(date, branch or 0, detections)` of every day-total row of the range.
pub(crate) type Signature = Vec<(Date, i64, i64)>;

/// What the memo knows about a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Computed from exactly these day totals.
    Fresh(RangePersons),
    /// Computed before the latest detections; `refresh` says this caller should start
    /// the (single) refresh.
    Stale {
        persons: RangePersons,
        refresh: bool,
    },
    /// Never computed: this caller starts the scan (and waits a little for it).
    Missing,
    /// Never computed, and another caller's scan is running.
    Computing,
}

#[derive(Debug)]
struct Entry {
    signature: Signature,
    /// `None` while the first scan runs.
    persons: Option<RangePersons>,
    refreshing: bool,
    used: u64,
}

#[derive(Debug, Default)]
pub(crate) struct PersonsMemo {
    entries: Mutex<(u64, HashMap<RangeKey, Entry>)>,
}

/// The signature of `from..=to` in `days` (rows outside the range are ignored).
pub(crate) fn signature(days: &[DayCount], from: Date, to: Date) -> Signature {
    let mut sig: Signature = days
        .iter()
        .filter(|d| d.date >= from && d.date <= to)
        .map(|d| (d.date, d.branch_id.unwrap_or(0), d.detections))
        .collect();
    sig.sort_unstable();
    sig
}

impl PersonsMemo {
    pub(crate) fn lookup(&self, key: &RangeKey, signature: &Signature) -> Lookup {
        let mut guard = self.entries.lock().expect("persons memo lock");
        let (clock, entries) = &mut *guard;
        *clock += 1;
        let used = *clock;
        let Some(entry) = entries.get_mut(key) else {
            evict_for(entries, key);
            entries.insert(
                key.clone(),
                Entry {
                    signature: signature.clone(),
                    persons: None,
                    refreshing: true,
                    used,
                },
            );
            return Lookup::Missing;
        };
        entry.used = used;
        let Some(persons) = entry.persons.clone() else {
            return Lookup::Computing;
        };
        if entry.signature == *signature {
            return Lookup::Fresh(persons);
        }
        let refresh = !entry.refreshing;
        entry.refreshing = true;
        Lookup::Stale { persons, refresh }
    }

    /// Remembers `persons`, computed after `signature` was read.
    pub(crate) fn store(&self, key: RangeKey, signature: Signature, persons: RangePersons) {
        let mut guard = self.entries.lock().expect("persons memo lock");
        let (clock, entries) = &mut *guard;
        *clock += 1;
        evict_for(entries, &key);
        entries.insert(
            key,
            Entry {
                signature,
                persons: Some(persons),
                refreshing: false,
                used: *clock,
            },
        );
    }

    /// A scan that failed: the next lookup may try again.
    pub(crate) fn refresh_failed(&self, key: &RangeKey) {
        let mut guard = self.entries.lock().expect("persons memo lock");
        let entries = &mut guard.1;
        match entries.get_mut(key) {
            Some(e) if e.persons.is_some() => e.refreshing = false,
            Some(_) => {
                entries.remove(key);
            }
            None => {}
        }
    }
}

/// Makes room for `key` by dropping the least recently used other range.
fn evict_for(entries: &mut HashMap<RangeKey, Entry>, key: &RangeKey) {
    if entries.len() >= CAPACITY
        && !entries.contains_key(key)
        && let Some(oldest) = entries
            .iter()
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone())
    {
        entries.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn persons(n: i64) -> RangePersons {
        RangePersons {
            unique_persons: n,
            per_branch: vec![(1, n)],
        }
    }

    #[test]
    fn fresh_while_the_day_totals_are_unchanged_then_stale_with_one_refresh() {
        let memo = PersonsMemo::default();
        let key: RangeKey = (date(2026, 11, 1), date(2026, 11, 7), None);
        let before = vec![(date(2026, 11, 2), 0, 10)];
        assert_eq!(memo.lookup(&key, &before), Lookup::Missing);
        assert_eq!(
            memo.lookup(&key, &before),
            Lookup::Computing,
            "one first scan at a time"
        );
        memo.store(key.clone(), before.clone(), persons(4));
        assert_eq!(memo.lookup(&key, &before), Lookup::Fresh(persons(4)));

        let after = vec![(date(2026, 11, 2), 0, 11)];
        assert_eq!(
            memo.lookup(&key, &after),
            Lookup::Stale {
                persons: persons(4),
                refresh: true
            }
        );
        assert_eq!(
            memo.lookup(&key, &after),
            Lookup::Stale {
                persons: persons(4),
                refresh: false
            },
            "one refresh at a time"
        );
        memo.store(key.clone(), after.clone(), persons(5));
        assert_eq!(memo.lookup(&key, &after), Lookup::Fresh(persons(5)));
    }

    #[test]
    fn the_least_recently_used_range_goes_first() {
        let memo = PersonsMemo::default();
        let sig: Signature = Vec::new();
        let key = |b: i64| -> RangeKey { (date(2026, 1, 1), date(2026, 1, 7), Some(vec![b])) };
        for b in 1..=CAPACITY as i64 {
            memo.store(key(b), sig.clone(), persons(b));
        }
        // Range 1 is used again, so range 2 is the oldest when a new range arrives.
        assert!(matches!(memo.lookup(&key(1), &sig), Lookup::Fresh(_)));
        memo.store(key(1000), sig.clone(), persons(0));
        assert!(matches!(memo.lookup(&key(1), &sig), Lookup::Fresh(_)));
        assert_eq!(memo.lookup(&key(2), &sig), Lookup::Missing);
    }

    #[test]
    fn a_failed_first_scan_lets_the_next_caller_start_again() {
        let memo = PersonsMemo::default();
        let key: RangeKey = (
            jiff::civil::date(2026, 11, 1),
            jiff::civil::date(2026, 11, 7),
            None,
        );
        let sig: Signature = Vec::new();
        assert_eq!(memo.lookup(&key, &sig), Lookup::Missing);
        memo.refresh_failed(&key);
        assert_eq!(memo.lookup(&key, &sig), Lookup::Missing);
    }
}
