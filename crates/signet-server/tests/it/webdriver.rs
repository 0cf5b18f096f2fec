//! The shared WebDriver client lives in `signet-testkit`.

pub use signet_testkit::webdriver::*;
