//! Acceptance tests of the device and management APIs through a real HTTP server.

mod bad_input;
mod crash;
mod files;
mod helpers;
mod ingest;
mod manage;
