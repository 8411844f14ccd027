//! Integration tests of the webhook notifier against a fake receiver on loopback.

mod fake;
mod send;
mod settings;
