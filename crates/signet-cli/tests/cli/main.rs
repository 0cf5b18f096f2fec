//! The `signet` binary, run as a person or a script would run it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod admin;
mod applications;
mod audit;
mod config;
mod harness;
mod hostile;
mod local_files;
mod loopback;
mod mfa;
mod network;
mod readme_tour;
mod rogue;
mod session;
mod signon;
mod storage;
