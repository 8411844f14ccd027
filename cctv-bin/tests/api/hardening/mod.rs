//! Regression tests of the adversarial pass: hostile shapes of input, data that used to be
//! lost without an error, and scope leaks. Each test names the behaviour it holds.

mod access;
mod idempotency;
mod input;
mod poison;
mod startup;
mod templates;
