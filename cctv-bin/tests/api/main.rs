//! Acceptance tests of the device, management, report and web APIs through a real HTTP server.

mod bad_input;
mod browser;
mod crash;
mod expected;
mod export_memory;
mod exports;
mod files;
mod helpers;
mod ingest;
mod manage;
mod notify;
mod queue_ops;
mod report_support;
mod reports;
mod streams;
mod web;
