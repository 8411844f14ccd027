//! The device API v1: wire-compatible with the original system's fleet.

pub mod batch;
pub mod query;
pub mod upload;
