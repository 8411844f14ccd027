//! Small building blocks shared by the accumulators.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::Hash;

/// Dense indices for keys (device ids, branch ids), cloning a key only the first time it is
/// seen: rows arrive by the million, distinct devices by the dozen.
#[derive(Debug)]
pub(super) struct Keys<K> {
    index: HashMap<K, u32>,
    keys: Vec<K>,
}

impl<K> Default for Keys<K> {
    fn default() -> Self {
        Self {
            index: HashMap::new(),
            keys: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Keys<K> {
    /// The index of `key`, and whether it was new.
    pub(super) fn index<Q>(&mut self, key: &Q) -> (u32, bool)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(&i) = self.index.get(key) {
            return (i, false);
        }
        let i = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.index.insert(key.to_owned(), i);
        self.keys.push(key.to_owned());
        (i, true)
    }

    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The keys in index order.
    pub(super) fn into_keys(self) -> Vec<K> {
        self.keys
    }
}

/// Detections, the sum of their people counts, and distinct persons, for one bucket (an hour,
/// a day, a device, a branch).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts {
    pub(super) detections: u64,
    pub(super) detected_count: i64,
    pub(super) persons: u64,
}

impl Counts {
    pub(super) fn add(&mut self, detected_count: i64) {
        self.detections += 1;
        // A device could send absurd counts; a report must not panic on them.
        self.detected_count = self.detected_count.saturating_add(detected_count);
    }
}

/// The first `n` of `items` in `order`, holding at most `2n` of them at a time: a day with
/// 50,000 persons keeps its top 10 without a list of all 50,000. Whenever the buffer fills,
/// it keeps its first `n` (a selection, not a sort); the survivors are sorted at the end.
pub(super) fn top_n<T>(
    items: impl IntoIterator<Item = T>,
    n: usize,
    order: impl Fn(&T, &T) -> Ordering,
) -> Vec<T> {
    if n == 0 {
        return Vec::new();
    }
    let mut kept: Vec<T> = Vec::with_capacity(2 * n);
    for item in items {
        if kept.len() == 2 * n {
            kept.select_nth_unstable_by(n - 1, &order);
            kept.truncate(n);
        }
        kept.push(item);
    }
    if kept.len() > n {
        kept.select_nth_unstable_by(n - 1, &order);
        kept.truncate(n);
    }
    kept.sort_by(order);
    kept
}

/// The index of the largest count, the earliest on ties; `None` when every count is zero.
pub(super) fn first_max(counts: impl IntoIterator<Item = u64>) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for (i, count) in counts.into_iter().enumerate() {
        if count > 0 && best.is_none_or(|(_, b)| count > b) {
            best = Some((i, count));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_keeps_the_first_n_in_order() {
        let items: Vec<u32> = (0..100).rev().collect();
        assert_eq!(top_n(items, 3, Ord::cmp), vec![0, 1, 2]);
        assert_eq!(top_n(vec![3, 1], 10, Ord::cmp), vec![1, 3]);
        assert!(top_n(vec![3, 1], 0, Ord::cmp).is_empty());
    }

    #[test]
    fn top_n_of_a_long_stream_matches_a_full_sort() {
        // A fixed shuffle of 0..10_000 with duplicates, through many buffer refills.
        let items: Vec<u32> = (0..10_000_u32)
            .map(|i| i.wrapping_mul(7_919) % 5_003)
            .collect();
        let mut sorted = items.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        for n in [1, 3, 10, 64] {
            let top = top_n(items.iter().copied(), n, |a: &u32, b: &u32| b.cmp(a));
            assert_eq!(top, sorted[..n], "n = {n}");
        }
    }

    #[test]
    fn first_max_prefers_the_earliest_and_ignores_all_zero() {
        assert_eq!(first_max([0, 5, 2, 5]), Some(1));
        assert_eq!(first_max([0, 0, 0]), None);
    }
}
