//! # cctv-admin
//!
//! The administration of a cctv server, built on `cctv-core`: what the reference server
//! offers beyond accepting and counting detections. A core built without it accepts,
//! processes and counts detections (the actor pipeline and the SQL backends still link
//! it, for the notification, report and maintenance workers and the capability traits
//! they implement).
//!
//! It attaches itself to a [`Core`](cctv_core::Core) as one extension value ([`Admin`]):
//! [`AdminBuilder`] adds its parts while the core is wired, [`AdminCore`] reads them.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use cctv_admin::{AdminBuilder, AdminCore, FullStorage};
//!
//! # async fn demo(store: Arc<dyn FullStorage>) -> Result<(), Box<dyn std::error::Error>> {
//! let core = cctv_core::Core::builder().full_storage(store).build().await?;
//! let reports = core.report_store()?; // a capability the backend has
//! println!("{:?}, {} notifiers", reports, core.notifiers().len());
//! # Ok(()) }
//! ```
//!
//! ## Where things are
//!
//! - [`storage`]: the optional storage capabilities ([`FullStorage`] has them all) and
//!   [`capabilities`], the ones one core was given;
//! - [`reporting`]: daily, monthly and dashboard reports with DST-safe local days;
//!   [`analytics`]: visits, dwell, flows, frequency and heatmaps; [`export`]: CSV and
//!   XLSX exports;
//! - [`notify`]: notification settings, channels ([`notify::Notifier`]), cooldowns and
//!   delivery; [`template`] and [`phone`]: message templates and phone numbers;
//! - [`schedule`], [`job_handlers`], [`queue_ops`], [`ops_alerts`]: scheduled tasks, the
//!   handlers of non-detection jobs, queue administration and alerts;
//! - [`manage`] and [`access`]: management resources, roles, logins and tokens;
//!   [`files`], [`api_log`], [`usage`], [`stream_url`]: stored files and signed URLs, the
//!   API request log, usage summaries and camera stream addresses.

pub mod access;
pub mod analytics;
pub mod api_log;
pub mod capabilities;
pub mod export;
mod extension;
pub mod files;
pub mod job_handlers;
pub mod manage;
pub mod notify;
pub mod ops_alerts;
pub mod phone;
#[cfg(test)]
mod props;
pub mod queue_ops;
pub mod reporting;
pub mod schedule;
pub mod storage;
pub mod stream_url;
pub mod template;
pub mod usage;

pub use extension::{Admin, AdminBuilder, AdminCore, AdminSettings};
pub use storage::FullStorage;
