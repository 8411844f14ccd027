//! Acceptance tests of the device API through a real HTTP server.

mod bad_input;
mod crash;
mod helpers;
mod ingest;
