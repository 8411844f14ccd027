//! Acceptance tests of the device API through a real HTTP server.

mod bad_input;
mod crash;
mod expected;
mod exports;
mod helpers;
mod ingest;
mod queue_ops;
mod report_support;
mod reports;
