//! Claim-mapping expressions and claim names from libFuzzer: the same body
//! (`fuzz_one`) that the proptest in `src/claims/fuzz_tests.rs` drives on stable.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use signet_core::claims::{
    ClaimEngine, ClaimError, ClaimInput, MAX_RESULT_BYTES, MAX_VALUE_DEPTH, validate_claim_name,
};

include!("../../src/claims/fuzz_check.rs");

fuzz_target!(|data: &[u8]| {
    static SANDBOX: OnceLock<(ClaimEngine, ClaimInput)> = OnceLock::new();
    let (engine, input) = SANDBOX.get_or_init(|| (ClaimEngine::new(), ClaimInput::example()));
    if let Ok(source) = std::str::from_utf8(data) {
        fuzz_one(engine, input, source);
    }
});
