//! The `cctv` subcommands.

pub mod aggregate;
pub mod credential;
pub mod demo;
pub mod serve;
pub mod user;
