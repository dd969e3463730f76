//! Fuzz target: `sluice::fuzz::records` (see `src/fuzz.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice::fuzz::records(data);
});
