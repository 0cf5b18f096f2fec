//! signetd end to end, in-process: each test starts its own server on
//! 127.0.0.1:0 with its own store, key-encryption key and clock.

// A panic in a test helper is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod admin;
mod audit_chain;
mod audit_export;

mod backup;
mod bad_input;
mod bootstrap;
mod browser;
mod bulk;
mod claims;
mod cli;
mod config_store;
mod conformance;
mod connections;
mod data_dir;
mod deploy;
mod device;
mod discovery;
mod dpop;
mod external_oauth;
mod federation;
mod fuzz;
mod ha;
mod identity_providers;
mod instances;
mod interop;
mod ldap;
mod lifecycle;
mod lockout;
mod metrics;
mod mfa_signon;
mod mtls;
mod observability;
mod ops;
mod outage;
mod radius;
mod refresh_reuse;
mod rfc9700;
mod second_factor;
mod security;
mod signon;
mod tokens;
mod upgrade;
mod upstream;
mod vault;
mod vault_clients;
mod webdriver;
