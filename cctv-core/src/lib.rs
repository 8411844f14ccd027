//! # cctv-core
//!
//! The domain of cctv — person re-identification counting across a company's branches —
//! with no web framework, actor system or database driver in its API.
//!
//! - [`detection`]: validating a device's detection and the durable job payload;
//! - [`accept`]: accepting detections from devices, one or a batch (the use cases behind the
//!   device API's ingest endpoints, for any caller with an ingest sink);
//! - [`person_day`]: the person-day rules (counters, min/max times, feature merge);
//! - [`estate`], [`credential`], [`rate_limit`]: who may post what, and how often;
//! - [`storage`], [`jobs`], [`events`], [`blob`], [`notify`], [`reporting`], [`ingest`]:
//!   the plugin traits, held as `Arc<dyn Trait>`;
//! - [`reporting`] also holds the pure report maths: streaming accumulators for the daily,
//!   monthly and dashboard reports, with DST-safe local day boundaries;
//! - [`files`], [`api_log`]: derived image paths, signed file URLs, retention cleanup,
//!   and the API access log format with its daily aggregation;
//! - [`template`], [`phone`]: notification message templates and phone normalisation;
//! - [`stream_url`]: camera URLs as they may be shown (no credentials) and as the server
//!   uses them;
//! - [`schedule`]: timed tasks (cadences, one run per slot across nodes, catch-up);
//! - [`queue_ops`]: queue monitoring and failed-job handling for admins;
//! - [`job_handlers`]: what the `reports` and `maintenance` queue workers do with a job;
//! - [`export`]: reports as CSV, and XLSX with the feature `xlsx`;
//! - [`Core`]: wires the plugins, settings and the hot-path caches.
//!
//! Storage backends live in `plugins/storage-sqlite`, `plugins/storage-postgres` and
//! `plugins/storage-memory`; the test suite every backend must pass is the
//! `cctv-testkit` crate (`cctv-core/testkit`), a dev-dependency.

pub mod accept;
pub mod access;
pub mod analytics;
pub mod api_log;
pub mod blob;
pub mod cache;
pub mod capabilities;
pub mod core;
pub mod credential;
pub mod day_counts;
pub mod detection;
pub mod estate;
pub mod events;
pub mod export;
pub mod files;
pub mod ingest;
pub mod input;
pub mod job_handlers;
pub mod jobs;
pub mod manage;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod ops_alerts;
pub mod person_day;
pub mod phone;
pub mod processing;
#[cfg(test)]
mod props;
pub mod query;
pub mod queue_ops;
pub mod rate_limit;
pub mod records;
pub mod reporting;
pub mod schedule;
pub mod storage;
pub mod stream_url;
pub mod template;
pub mod usage;
pub mod validation;

pub use crate::core::{BuildError, Core, CoreBuilder, CoreSettings};
pub use jiff;
pub use serde_json;
