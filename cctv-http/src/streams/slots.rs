//! How many proxied requests each person has open. An MJPEG tile holds its slot for as
//! long as it plays (the slot travels inside the response body and is given back when
//! the body is dropped, i.e. when the browser goes away), so one person cannot tie up
//! the server's connections to the cameras.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub(crate) struct Slots {
    max: usize,
    open: Mutex<HashMap<i64, usize>>,
}

/// One open proxied request of one person; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    user_id: i64,
}

impl Slots {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for `user_id`, or `None` when they already hold the maximum.
    pub fn take(self: &Arc<Self>, user_id: i64) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let held = open.entry(user_id).or_insert(0);
        if *held >= self.max {
            return None;
        }
        *held += 1;
        Some(Slot {
            slots: self.clone(),
            user_id,
        })
    }

    #[cfg(test)]
    fn held(&self, user_id: i64) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&user_id).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = open.get_mut(&self.user_id) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_person_holds_at_most_max_slots_and_dropping_one_frees_it() {
        let slots = Slots::new(2);
        let a1 = slots.take(1).unwrap();
        let _a2 = slots.take(1).unwrap();
        assert!(slots.take(1).is_none(), "the third of person 1 is refused");
        let _b1 = slots.take(2).expect("person 2 has their own slots");
        drop(a1);
        assert_eq!(slots.held(1), 1);
        assert!(slots.take(1).is_some());
    }
}
