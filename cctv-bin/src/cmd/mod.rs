//! The `cctv` subcommands.

pub mod credential;
pub mod demo;
pub mod report;
pub mod serve;
pub mod user;
