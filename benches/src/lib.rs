//! # cctv-bench
//!
//! The ingest load generator and the baseline server used by `cctv bench`.
//!
//! - [`loadgen`]: keeps `concurrency` keep-alive HTTP/1.1 connections posting realistic
//!   detections (a pool of re-ids seen across branches, the original fleet's payload
//!   shape), one per request or many per batch upload, at a target rate or as fast as the
//!   server answers, records 202 latencies, then waits until the server has processed what
//!   it accepted.
//! - [`listen`]: a dashboard's WebSocket that counts the live events it hears.
//! - [`baseline`]: a trivial salvo handler on the same stack, to show what the machine can
//!   do with no work behind the HTTP layer.
//!
//! Latency is measured from the moment a request is written to the moment its full
//! response is read.

pub mod baseline;
mod body;
pub mod listen;
mod load_config;
pub mod loadgen;
pub mod pages;
pub mod stats;
