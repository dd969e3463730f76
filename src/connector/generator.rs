//! What the built-in generator connectors (`nexmark.rs`, `datagen.rs`) share: a small,
//! version-independent pseudo-random generator, wall-clock pacing, the checkpointed
//! position, and option parsing.
//!
//! Called only by those two connectors. It must stay deterministic: the random stream of
//! [`SplitMix64`] is fixed by its definition here, so generated data never changes with a
//! dependency upgrade.

use std::time::Instant;

use arrow::compute::kernels::cast_utils::string_to_datetime;
use serde::{Deserialize, Serialize};

use super::{Options, SourceStatus, SplitStatus};
use crate::error::{Error, Result};

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit state advanced by the golden-ratio
/// increment and passed through a fixed mixing function. Tiny, fast, and fully defined
/// here, so a seed gives the same numbers forever.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function (a bijection on `u64`).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    /// A generator starting at `state`.
    pub fn new(state: u64) -> SplitMix64 {
        SplitMix64 { state }
    }

    /// The generator for item `n` of a stream seeded with `seed`: each item has its own,
    /// so any item can be generated without the ones before it.
    pub fn for_item(seed: u64, n: u64) -> SplitMix64 {
        SplitMix64::new(mix64(mix64(seed ^ GOLDEN_GAMMA) ^ n))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// A number in `0..bound` (Lemire's multiply-shift; `0` when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A number in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// What a generator's checkpoint holds: the next item to generate and the time base, which
/// a restart keeps (it matters when the base was the wall clock at the first start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratorPosition {
    /// The next item (event or row) number.
    pub next: u64,
    /// Epoch milliseconds that item 0's time is relative to, once fixed.
    pub base_ms: Option<i64>,
}

impl GeneratorPosition {
    /// Decodes a saved position (the default when there is none).
    pub fn decode(saved: Option<Vec<u8>>) -> Result<GeneratorPosition> {
        match saved {
            None => Ok(GeneratorPosition::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Internal(format!("cannot decode generator position: {e}"))),
        }
    }

    /// Encodes the position for a checkpoint.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Internal(format!("cannot encode generator position: {e}")))
    }
}

/// Paces generation to a wall-clock rate, counted from when the reader started.
#[derive(Debug, Clone)]
pub struct Pacer {
    per_second: u64,
    started: Option<(Instant, u64)>,
}

impl Pacer {
    /// Paces to `per_second` items a second; 0 means as fast as possible.
    pub fn new(per_second: u64) -> Pacer {
        Pacer { per_second, started: None }
    }

    /// How many items may be generated now, at most `want`, given that the next item is
    /// `next`.
    pub fn allowance(&mut self, next: u64, want: usize) -> usize {
        if self.per_second == 0 {
            return want;
        }
        let (start, first) = *self.started.get_or_insert((Instant::now(), next));
        let elapsed = start.elapsed().as_micros();
        let due = first.saturating_add((elapsed * u128::from(self.per_second) / 1_000_000) as u64);
        (due.saturating_sub(next)).min(want as u64) as usize
    }
}

/// A generator's status for SHOW SOURCES: one split at the next item number, with the
/// items left when bounded.
pub fn status(next: u64, total: Option<u64>) -> SourceStatus {
    let split = SplitStatus {
        split: "0".into(),
        position: next as i64,
        lag: total.map(|t| t.saturating_sub(next) as i64),
        ..SplitStatus::default()
    };
    let state = if total.is_some_and(|t| next >= t) { "finished" } else { "generating" };
    SourceStatus { state: state.into(), splits: vec![split] }
}

/// Option `key` as an unsigned number, if given.
pub fn number_option(options: &Options, key: &str) -> Result<Option<u64>> {
    options.get(key).map(|text| parse_number(key, text)).transpose()
}

/// `text`, the value of option `key`, as an unsigned number.
pub fn parse_number(key: &str, text: &str) -> Result<u64> {
    text.trim().parse().map_err(|_| {
        Error::InvalidParameter(format!("invalid value for option \"{key}\": \"{text}\" (expected a whole number)"))
    })
}

/// `text`, the value of option `key`, as epoch milliseconds (UTC unless it names a zone).
pub fn parse_timestamp_ms(key: &str, text: &str) -> Result<i64> {
    string_to_datetime(&chrono::Utc, text.trim()).map(|t| t.timestamp_millis()).map_err(|_| {
        Error::InvalidParameter(format!(
            "invalid value for option \"{key}\": \"{text}\" (expected a timestamp such as '2025-01-01 00:00:00')"
        ))
    })
}

/// Rejects options that neither the connector nor every connector knows.
pub fn check_known(options: &Options, connector: &str, known: &[&str]) -> Result<()> {
    const COMMON: [&str; 2] = ["connector", "idle_timeout"];
    match options.keys().find(|k| !known.contains(&k.as_str()) && !COMMON.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(Error::InvalidParameter(format!(
            "unknown option \"{k}\" for connector \"{connector}\" (known options: {})",
            known.join(", ")
        ))),
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_stream_is_fixed() {
        // Reference values of SplitMix64 seeded with 0 (as in Vigna's splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn items_have_independent_streams() {
        let a: Vec<u64> = (0..4).map(|n| SplitMix64::for_item(7, n).next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|n| SplitMix64::for_item(7, n).next_u64()).collect();
        let c: Vec<u64> = (0..4).map(|n| SplitMix64::for_item(8, n).next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a[0], a[1]);
    }

    #[test]
    fn below_and_unit_stay_in_range() {
        let mut r = SplitMix64::new(1);
        for bound in [1, 2, 3, 10, 1_000_000] {
            for _ in 0..1000 {
                assert!(r.below(bound) < bound);
            }
        }
        assert_eq!(r.below(0), 0);
        assert!((0..1000).map(|_| r.unit()).all(|u| (0.0..1.0).contains(&u)));
    }

    #[test]
    fn position_round_trips() {
        let p = GeneratorPosition { next: 42, base_ms: Some(1_735_689_600_000) };
        assert_eq!(GeneratorPosition::decode(Some(p.encode().unwrap())).unwrap(), p);
        assert_eq!(GeneratorPosition::decode(None).unwrap(), GeneratorPosition::default());
    }

    #[test]
    fn timestamps_and_numbers_parse() {
        assert_eq!(parse_timestamp_ms("t", "2025-01-01 00:00:00").unwrap(), 1_735_689_600_000);
        assert_eq!(parse_timestamp_ms("t", "2025-01-01T00:00:01.5Z").unwrap(), 1_735_689_601_500);
        let err = parse_timestamp_ms("base_time", "soon").unwrap_err().to_string();
        assert!(err.contains("\"base_time\""), "{err}");
        assert!(parse_number("events", "x").is_err());
        assert_eq!(parse_number("events", " 12 ").unwrap(), 12);
    }
}
