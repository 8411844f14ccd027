//! The single writer's memory of the person-days it has processed, so that a batch of
//! persons seen before reads none of their state from the database.
//!
//! Loading a batch's state was a third of a processing transaction (index seeks on
//! `re_id_masters` and `re_id_branch_days` for every person-day, each row sent from
//! SQLite's thread). After a commit, the writer knows exactly what those rows hold for
//! the batch's person-days: what it loaded plus what it wrote. It keeps that, and the next
//! batch reads from the database only the person-days it does not know.
//!
//! **When the memory is stale.** Anything else that writes the file makes the memory
//! unusable: a status edit, retention, a job settled on the same connection, another
//! process. Rather than trusting every write path to report itself, the cache is valid
//! only while a [`Stamp`] is unchanged: the writer connection's `total_changes()` (every
//! row any statement on it inserted, updated or deleted, ever) and `data_version` (which
//! moves when another connection commits to the file). The stamp is read inside the
//! processing transaction, before its commit and after the next one begins, while the
//! write lock is held, so no commit can fall between the two readings unnoticed. A
//! changed stamp drops the whole memory, and the batch loads everything, as without it.
//!
//! **Bounded.** At most [`MAX_DAYS`] person-days and [`MAX_FEATURE_BYTES`] of appearance
//! features (kept as their JSON text): past either, the oldest dates go, then everything.

use std::collections::HashMap;

use cctv_processing::{Membership, PersonDayChange, PersonDayState, ProcessingState};
use jiff::civil::Date;
use serde_json::Value;

/// Most person-days remembered: about 200 bytes each without features (the key, the
/// branches, the map's slot), so some 20 MB at the limit.
pub(super) const MAX_DAYS: usize = 100_000;

/// Most bytes of appearance-feature JSON remembered.
pub(super) const MAX_FEATURE_BYTES: usize = 16 << 20;

/// Reads the [`Stamp`] as a row tagged `stamp`.
pub(super) const STAMP_SQL: &str =
    "SELECT 'stamp', total_changes(), (SELECT data_version FROM pragma_data_version()); ";

/// A person-day: `(re_id, local date)`.
pub(super) type DayKey = (String, Date);

/// What the writer connection last saw of the file; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub changes: i64,
    pub data_version: i64,
}

/// One person-day as the database holds it after the last commit.
#[derive(Debug, Clone, Default)]
pub(super) struct Day {
    pub inactive: bool,
    /// `appearance_features` as stored (JSON text).
    pub features: Option<String>,
    /// Its membership rows: branch id, and whether the branch counts.
    pub branches: Vec<(i64, bool)>,
}

/// The person-days a batch read from the database, as read.
pub(super) type ReadDays = HashMap<DayKey, Day>;

#[derive(Debug)]
pub(crate) struct StateCache {
    stamp: Stamp,
    days: HashMap<DayKey, Day>,
    feature_bytes: usize,
}

impl StateCache {
    /// Whether the file is as this memory left it.
    pub(super) fn is_valid_at(&self, stamp: Stamp) -> bool {
        self.stamp == stamp
    }

    /// A write that touched no person-day ran on the writer connection, moving
    /// `total_changes()` from `before` to `after`: the memory stays valid across it.
    pub(super) fn carry(&mut self, before: i64, after: i64) {
        if self.stamp.changes == before {
            self.stamp.changes = after;
        }
    }

    pub(super) fn stamp(&self) -> Stamp {
        self.stamp
    }

    /// The keys this memory knows, and the ones to read from the database.
    pub(super) fn partition(&self, keys: Vec<DayKey>) -> (Vec<DayKey>, Vec<DayKey>) {
        keys.into_iter().partition(|k| self.days.contains_key(k))
    }

    /// Puts what is remembered of `keys` (all known: see [`StateCache::partition`]) into
    /// `state`, as loading them would.
    pub(super) fn fill(&self, keys: &[DayKey], state: &mut ProcessingState) {
        for key in keys {
            let Some(day) = self.days.get(key) else {
                continue;
            };
            for &(branch, counted) in &day.branches {
                state
                    .memberships
                    .insert((key.0.clone(), key.1, branch), counted);
            }
            state.person_days.insert(
                key.clone(),
                PersonDayState {
                    inactive: day.inactive,
                    appearance_features: day.features.as_deref().and_then(parse_features),
                },
            );
        }
    }

    /// The memory after a batch committed; `stamp` was read just before the commit.
    /// `previous` is the memory the batch was planned with, if it was valid; `read` is
    /// what the batch read from the database (the person-days `previous` did not know);
    /// `changes` (with their features as written) and `memberships` are what it wrote.
    pub(super) fn after_commit(
        previous: Option<StateCache>,
        read: ReadDays,
        changes: Vec<PersonDayChange>,
        features: Vec<Option<String>>,
        memberships: &[Membership],
        stamp: Stamp,
    ) -> StateCache {
        let mut cache = previous.unwrap_or_else(|| StateCache {
            stamp,
            days: HashMap::new(),
            feature_bytes: 0,
        });
        cache.stamp = stamp;
        for (key, day) in read {
            cache.feature_bytes += day.features.as_ref().map_or(0, String::len);
            if let Some(old) = cache.days.insert(key, day) {
                cache.feature_bytes -= old.features.as_ref().map_or(0, String::len);
            }
        }
        for (change, features) in changes.into_iter().zip(features) {
            let day = cache.days.entry((change.re_id, change.date)).or_default();
            cache.feature_bytes += features.as_ref().map_or(0, String::len);
            cache.feature_bytes -= day.features.as_ref().map_or(0, String::len);
            day.inactive = false;
            day.features = features;
        }
        for m in memberships {
            let day = cache.days.entry((m.re_id.clone(), m.date)).or_default();
            match day.branches.iter_mut().find(|(b, _)| *b == m.branch_id) {
                Some((_, counted)) => *counted |= m.counted,
                None => day.branches.push((m.branch_id, m.counted)),
            }
        }
        if let Some(newest) = memberships.iter().map(|m| m.date).max() {
            cache.bound(newest);
        }
        cache
    }

    /// Keeps the memory within its limits: older dates go first, then everything.
    fn bound(&mut self, newest: Date) {
        if self.days.len() <= MAX_DAYS && self.feature_bytes <= MAX_FEATURE_BYTES {
            return;
        }
        self.days.retain(|(_, date), _| *date >= newest);
        if self.days.len() > MAX_DAYS {
            self.days.clear();
        }
        self.feature_bytes = self
            .days
            .values()
            .map(|d| d.features.as_ref().map_or(0, String::len))
            .sum();
        if self.feature_bytes > MAX_FEATURE_BYTES {
            self.days.clear();
            self.feature_bytes = 0;
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.days.len()
    }
}

/// Features as loading them would read them (the text came from a value, so it parses).
fn parse_features(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_with(days: impl IntoIterator<Item = ((String, Date), Day)>) -> StateCache {
        let days: HashMap<_, _> = days.into_iter().collect();
        let feature_bytes = days
            .values()
            .map(|d| d.features.as_ref().map_or(0, String::len))
            .sum();
        StateCache {
            stamp: Stamp {
                changes: 0,
                data_version: 0,
            },
            days,
            feature_bytes,
        }
    }

    #[test]
    fn past_its_limit_the_memory_keeps_the_newest_date() {
        let (old, new): (Date, Date) =
            ("2026-11-27".parse().unwrap(), "2026-11-28".parse().unwrap());
        let mut cache = cache_with(
            (0..MAX_DAYS)
                .map(|i| ((format!("P{i}"), old), Day::default()))
                .chain([(("P0".to_owned(), new), Day::default())]),
        );
        cache.bound(new);
        assert_eq!(cache.len(), 1);
        assert!(cache.days.contains_key(&("P0".to_owned(), new)));
    }

    #[test]
    fn past_its_feature_budget_the_memory_empties() {
        let day: Date = "2026-11-28".parse().unwrap();
        let big = Day {
            features: Some("x".repeat(MAX_FEATURE_BYTES / 2 + 1)),
            ..Day::default()
        };
        let mut cache = cache_with([
            (("P1".to_owned(), day), big.clone()),
            (("P2".to_owned(), day), big),
        ]);
        cache.bound(day);
        assert_eq!((cache.len(), cache.feature_bytes), (0, 0));
        let mut small = cache_with([(("P1".to_owned(), day), Day::default())]);
        small.bound(day);
        assert_eq!(small.len(), 1, "within its limits nothing goes");
    }
}
