//! Wire types shared by signetd, the CLI and the tests: serde bodies only, no behaviour.

pub mod admin;
pub mod audit;
pub mod bootstrap;
pub mod id;
pub mod oauth;
pub mod roles;
pub mod vault;
