//! PingID settings files (`settings_file_base64`): any input parses or
//! fails cleanly. The body is `signet_core::pingid::fuzz_check`, which CI
//! also runs through proptest.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    signet_core::pingid::fuzz_check(data);
});
