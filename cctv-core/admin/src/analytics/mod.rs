//! Visitor analytics: what the re-identified visits mean.
//!
//! A *visit* is one person (`re_id`) at one branch on one local day. Processing keeps one
//! row per visit with its first and last detection and its number of detections, and the
//! detections per local hour, in the same transaction as the detections themselves; so
//! every figure here is exact as of the last processed detection (detections accepted
//! but still queued are not in it yet, and each answer says how many those are).
//!
//! The definitions, for a range of days `from..=to` and a set of branches:
//! - **new vs returning** ([`visits`]): among the distinct persons with a visit at the
//!   branches on a day, *returning* are those with a visit at any branch on one of the
//!   `lookback_days` days before it (the day exactly `lookback_days` before included),
//!   the others are *new*;
//! - **dwell** ([`dwell`]): `last − first` detection of each visit with two or more
//!   detections, in whole seconds (rounded down); percentiles by nearest rank;
//! - **flows** ([`flows`]): for each person and day with visits at two or more branches,
//!   the day's branches in order of the person's first detection at each (ties by branch
//!   id); each consecutive pair is one transition. Transitions are counted over every
//!   branch and shown when both ends are visible to the caller;
//! - **frequency** ([`frequency`]): per person seen at the branches in the range, the
//!   number of distinct days seen there;
//! - **busy hours** ([`heatmap`]): detections by ISO weekday and local hour.
//!
//! A backend reads the visit rows of a range and the hourly counts ([`AnalyticsStore`]);
//! every rule above is applied here, once for every backend, and [`all`] computes the
//! five reports of a page from one read. The conformance suite checks every backend
//! against a recount from the raw detections.

mod report;
mod store;

pub use report::*;
pub use store::{AnalyticsStore, DayRange, VisitRow};

/// Days looked back for a returning visitor, unless configured.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// The longest look-back allowed.
pub const MAX_LOOKBACK_DAYS: u32 = 366;
