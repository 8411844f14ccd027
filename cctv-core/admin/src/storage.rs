//! The optional storage capabilities of the admin application, beside the required
//! [`Storage`] of `cctv-core`: each its own trait, implemented by the backends that have
//! it (the SQLite and PostgreSQL plugins have them all) and checked by the conformance
//! suite of the `cctv-testkit` crate.

pub use crate::analytics::AnalyticsStore;
pub use crate::export::ExportStore;
pub use crate::notify::NotificationStore;
pub use crate::queue_ops::QueueAdmin;
pub use crate::reporting::ReportStore;
pub use crate::schedule::ScheduleStore;
use cctv_core::storage::Storage;

/// A backend with every optional capability — notifications ([`NotificationStore`]),
/// reports ([`ReportStore`]), the schedule ([`ScheduleStore`]), queue administration
/// ([`QueueAdmin`]), exports ([`ExportStore`]) and visitor analytics
/// ([`AnalyticsStore`]) — which the reference server needs.
/// Each capability is its own trait: a backend for embedding may implement only
/// [`Storage`], and code that needs one capability asks for that trait.
pub trait FullStorage:
    Storage
    + NotificationStore
    + ReportStore
    + ScheduleStore
    + QueueAdmin
    + ExportStore
    + AnalyticsStore
{
}

impl<T> FullStorage for T where
    T: Storage
        + NotificationStore
        + ReportStore
        + ScheduleStore
        + QueueAdmin
        + ExportStore
        + AnalyticsStore
{
}
