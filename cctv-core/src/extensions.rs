//! Values other crates attach to a [`Core`](crate::Core), one per type.
//!
//! The core knows the detection path only. The reference server's administration
//! (`cctv-admin`: notifiers, the optional storage capabilities, the credential key, the
//! schedule's settings) rides along as one extension value, so the core's API names
//! none of it and a core built without it runs the detection path, and the admin crate
//! adds its parts without the core naming them. The same pattern as `http::Extensions`: a map
//! keyed by type, filled while building and read-only afterwards.

use std::any::{Any, TypeId};
use std::collections::HashMap;

/// A map from a type to one value of it.
#[derive(Default)]
pub(crate) struct Extensions {
    values: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl Extensions {
    /// The value of type `T`, if one was stored.
    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref())
    }

    /// The value of type `T`, stored as `T::default()` first when there is none.
    pub(crate) fn get_or_default<T: Any + Send + Sync + Default>(&mut self) -> &mut T {
        self.values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut()
            .expect("values are stored under their own type id")
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extensions({} values)", self.values.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_type_and_defaults_on_demand() {
        let mut map = Extensions::default();
        assert_eq!(map.get::<u32>(), None);
        *map.get_or_default::<u32>() = 7;
        *map.get_or_default::<u32>() += 1;
        map.get_or_default::<Vec<u8>>().push(1);
        map.get_or_default::<Vec<u8>>().push(2);
        assert_eq!(map.get::<u32>(), Some(&8));
        assert_eq!(map.get::<Vec<u8>>(), Some(&vec![1, 2]));
        assert_eq!(map.get::<u64>(), None, "another type is another value");
    }
}
