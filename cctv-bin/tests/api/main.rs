//! Acceptance tests of the device and management APIs through a real HTTP server.

mod bad_input;
mod browser;
mod crash;
mod files;
mod helpers;
mod ingest;
mod manage;
mod notify;
mod web;
