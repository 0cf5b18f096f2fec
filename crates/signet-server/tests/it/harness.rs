//! The shared harness lives in `signet-testkit`.

pub use signet_testkit::*;
