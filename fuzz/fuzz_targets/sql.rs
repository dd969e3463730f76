//! Fuzz target: `sluice::fuzz::sql` (see `src/fuzz.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice::fuzz::sql(data);
});
