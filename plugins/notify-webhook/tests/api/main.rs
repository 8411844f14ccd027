//! Integration tests of the webhook notifier against a fake receiver on loopback.

mod event;
mod send;
mod settings;
