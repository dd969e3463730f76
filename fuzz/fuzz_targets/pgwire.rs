//! Fuzz target: `sluice::fuzz::pgwire` (see `src/fuzz.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice::fuzz::pgwire(data);
});
