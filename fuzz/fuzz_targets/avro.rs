//! Fuzz target: `sluice::fuzz::avro` (see `src/fuzz.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice::fuzz::avro(data);
});
