//! The `cctv` subcommands.

pub mod aggregate;
pub mod credential;
pub mod demo;
pub mod files;
pub mod probe;
pub mod report;
pub mod serve;
pub mod token;
pub mod user;
