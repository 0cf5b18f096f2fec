// The body of the claim-expression fuzz target, included (not compiled as a
// module) by both `fuzz/fuzz_targets/claim_expression.rs`, which libFuzzer
// drives for as long as `fuzz/run.sh` says, and the proptest in
// `claims/fuzz_tests.rs`, which CI runs on stable. The including module brings
// `ClaimEngine`, `ClaimError`, `ClaimInput`, `MAX_RESULT_BYTES`,
// `MAX_VALUE_DEPTH`, `validate_claim_name` and `serde_json::Value` into scope.
//
// Any input may be refused; none may panic, and whatever is accepted is a
// JSON value within the documented bounds.

/// Runs one input as an expression and as a claim name, and panics if an
/// invariant breaks.
pub fn fuzz_one(engine: &ClaimEngine, input: &ClaimInput, source: &str) {
    match engine.try_expression(source, input) {
        Err(ClaimError::Internal) => panic!("the engine panicked on {source:?}"),
        // Rendering the message must not panic either.
        Err(err) => assert!(!err.to_string().is_empty()),
        Ok(None) => {}
        Ok(Some(value)) => {
            let json = serde_json::to_vec(&value).unwrap_or_default();
            assert!(!json.is_empty() && json.len() <= MAX_RESULT_BYTES, "{source:?} gave {} bytes", json.len());
            assert!(value_depth(&value) <= MAX_VALUE_DEPTH, "{source:?} gave a value nested too deeply");
        }
    }
    if validate_claim_name(source).is_ok() {
        assert!(!source.is_empty() && source.len() <= 64, "{source:?} accepted as a claim name");
    }
}

fn value_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
        Value::Object(entries) => 1 + entries.values().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}
