//! Test support shared by the workspace's integration tests: a real signetd
//! on 127.0.0.1:0 (SQLite, or a fresh PostgreSQL database) with an injected
//! clock, a cookie-keeping form browser, headless Chromium over WebDriver, and
//! a private FreeRADIUS and OpenLDAP, and test certificate authorities.
//!
//! Test code: a panic here is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod dpop;
pub mod forging;
pub mod ldap;
pub mod oidc_provider;
pub mod outside;
pub mod pg_cluster;
pub mod pki;
pub mod radius;
pub mod server;
pub mod standin;
pub mod tamper;
pub mod tls;
pub mod webdriver;

pub use server::*;
