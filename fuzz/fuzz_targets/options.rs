//! Fuzz target: `sluice::fuzz::options` (see `src/fuzz.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice::fuzz::options(data);
});
