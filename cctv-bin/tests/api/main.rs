//! Acceptance tests of the device, management, report and web APIs through a real HTTP server.

mod bad_input;
mod batch;
mod browser;
mod browser_layout;
mod cluster;
mod crash;
mod expected;
mod export_memory;
mod exports;
mod file_modes;
mod files;
mod hardening;
mod helpers;
mod ingest;
mod manage;
mod metrics;
mod notify;
mod queue_ops;
mod report_support;
mod reports;
mod streams;
mod summaries;
mod web;
mod web_roles;
mod web_safety;
mod ws;
