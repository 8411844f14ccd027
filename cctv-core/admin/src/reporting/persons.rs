//! The distinct persons of a report, held densely.
//!
//! A day of a busy estate meets tens of thousands of `re_id`s and a month can meet a
//! million, so what a person costs decides what a report holds. A map from an owned `re_id`
//! to a record costs the entry (key, record and the free share of the table), a string
//! allocated on its own and, for the devices or branches a person was seen at, a vector
//! allocated on its own. Here a person costs its `re_id`'s bytes in one shared buffer, an
//! offset, a slot of index table, and whatever the accumulator keeps per person in a
//! vector of its own, indexed by the person's number.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

/// Dense numbers for `re_id`s: person `i` is the `i`-th distinct `re_id` seen.
///
/// [`Keys`](super::tally::Keys) numbers a report's devices and branches the same way, but
/// holds each key twice (in its map and its list): fine for dozens of keys, not for the
/// persons of a month.
#[derive(Debug, Default)]
pub(super) struct PersonKeys {
    /// Every `re_id`, back to back.
    text: String,
    /// Where each `re_id` ends in `text`; the next one starts there.
    ends: Vec<usize>,
    /// Person numbers, found by the hash of their `re_id`.
    table: HashTable<u32>,
    hasher: RandomState,
}

impl PersonKeys {
    /// Room for `persons` distinct `re_id`s without growing the index.
    pub(super) fn with_capacity(persons: usize) -> Self {
        Self {
            ends: Vec::with_capacity(persons),
            table: HashTable::with_capacity(persons),
            ..Self::default()
        }
    }

    /// The number of `re_id`, and whether it is new.
    pub(super) fn index(&mut self, re_id: &str) -> (u32, bool) {
        let hash = self.hasher.hash_one(re_id);
        let Self {
            text,
            ends,
            table,
            hasher,
        } = self;
        if let Some(&person) = table.find(hash, |&p| key(text, ends, p) == re_id) {
            return (person, false);
        }
        // More than 4 billion persons cannot be held in memory anyway.
        let person = u32::try_from(ends.len()).unwrap_or(u32::MAX);
        text.push_str(re_id);
        ends.push(text.len());
        table.insert_unique(hash, person, |&p| hasher.hash_one(key(text, ends, p)));
        (person, true)
    }

    /// The `re_id` of `person` (empty for a number never handed out).
    pub(super) fn get(&self, person: u32) -> &str {
        key(&self.text, &self.ends, person)
    }
}

fn key<'a>(text: &'a str, ends: &[usize], person: u32) -> &'a str {
    let i = person as usize;
    let start = match i.checked_sub(1) {
        Some(before) => ends.get(before).copied().unwrap_or(0),
        None => 0,
    };
    let end = ends.get(i).copied().unwrap_or(start);
    text.get(start..end).unwrap_or("")
}

/// Which values (device or branch numbers) each person was seen with. Most persons are
/// seen with one: the first is kept in a vector indexed by person, any others as
/// `(person, value)` pairs in a set.
#[derive(Debug, Default)]
pub(super) struct PersonValues {
    /// Person `i`'s first value plus one; 0 while it has none.
    first: Vec<u32>,
    more: HashSet<(u32, u32)>,
}

impl PersonValues {
    /// Room for `persons` persons' first values.
    pub(super) fn with_capacity(persons: usize) -> Self {
        Self {
            first: Vec::with_capacity(persons),
            more: HashSet::new(),
        }
    }

    /// Records `value` for `person`; true when that person had not been seen with it.
    pub(super) fn insert(&mut self, person: u32, value: u32) -> bool {
        let i = person as usize;
        if self.first.len() <= i {
            self.first.resize(i + 1, 0);
        }
        let Some(stored) = value.checked_add(1) else {
            return self.more.insert((person, value));
        };
        match self.first.get_mut(i) {
            Some(first) if *first == 0 => {
                *first = stored;
                true
            }
            Some(first) if *first == stored => false,
            _ => self.more.insert((person, value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_number_re_ids_in_order_of_first_sight() {
        let mut keys = PersonKeys::with_capacity(1);
        assert_eq!(keys.index("a"), (0, true));
        assert_eq!(keys.index("bc"), (1, true));
        assert_eq!(keys.index("a"), (0, false));
        assert_eq!(keys.index(""), (2, true));
        assert_eq!(keys.index(""), (2, false));
        assert_eq!((keys.get(0), keys.get(1), keys.get(2)), ("a", "bc", ""));
        assert_eq!(keys.get(3), "");
    }

    #[test]
    fn keys_survive_the_table_growing() {
        // Many more than the reserved room, so the index is rehashed from the buffer.
        let mut keys = PersonKeys::with_capacity(4);
        for i in 0..10_000_u32 {
            assert_eq!(keys.index(&format!("person-{i}")), (i, true));
        }
        for i in (0..10_000_u32).rev() {
            assert_eq!(keys.index(&format!("person-{i}")), (i, false));
            assert_eq!(keys.get(i), format!("person-{i}"));
        }
        // Prefixes and multi-byte text are distinct keys.
        assert_eq!(keys.index("person-1").0, 1);
        assert_eq!(keys.index("person-"), (10_000, true));
        assert_eq!(keys.index("pérson-1"), (10_001, true));
    }

    #[test]
    fn values_count_each_person_and_value_once() {
        let mut values = PersonValues::with_capacity(0);
        assert!(values.insert(5, 0));
        assert!(!values.insert(5, 0));
        assert!(values.insert(5, 7));
        assert!(!values.insert(5, 7));
        assert!(values.insert(0, 7));
        assert!(values.insert(0, u32::MAX));
        assert!(!values.insert(0, u32::MAX));
        assert!(values.insert(1, u32::MAX));
        assert!(!values.insert(1, u32::MAX));
    }
}
