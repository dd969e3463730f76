//! Stable operator ids and the plan manifest kept with a pipeline's state.
//!
//! Every operator of a [`super::flow::Flow`] has an [`OperatorId`] derived from the plan,
//! not from its position: a hash of what the operator computes (its line of EXPLAIN: the
//! window, the group keys, the aggregates, the join keys...) and of the ids of its inputs,
//! so that an id names one computation over one input (Arroyo's planner and Merkle trees do
//! the same). A source input's id hashes its input number and stream.
//!
//! The flow's operators and their ids, in the order their state slots are numbered, make
//! the [`Manifest`]; its fingerprint is a hash of the ids. `Pipeline::start` calls
//! [`verify`] before any operator reads its state: the first start records the manifest
//! (under the reserved slot [`MANIFEST_SLOT`] of the pipeline's state, so DROP removes it
//! with the rest), and every later start, which plans the stored SQL again, must plan the
//! same operators. If a new planner or DataFusion release plans them differently, the
//! state would be loaded into operators it does not belong to: the pipeline is refused
//! ([`Error::PlanChanged`]) and its data left as it is.
//!
//! The hash is 64-bit FNV-1a over explicitly encoded bytes, so ids are the same on every
//! platform and with every Rust release.

use serde::{Deserialize, Serialize};
use tracing::info;

use crate::error::{Error, Result};
use crate::state::{Store, state_key};

/// The state slot that holds a pipeline's manifest; operators are numbered below it.
pub const MANIFEST_SLOT: u8 = u8::MAX;

/// An operator's stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorId(pub u64);

impl OperatorId {
    /// The id of source input `input`, which reads `stream`.
    pub fn source(input: usize, stream: &str) -> OperatorId {
        OperatorId(fnv(&[&(input as u64).to_be_bytes(), b"source", stream.as_bytes()]))
    }

    /// The id of the operator described by `description` over `inputs`.
    pub fn derive(inputs: &[OperatorId], description: &str) -> OperatorId {
        let ids: Vec<[u8; 8]> = inputs.iter().map(|i| i.0.to_be_bytes()).collect();
        let mut parts: Vec<&[u8]> = ids.iter().map(|b| b.as_slice()).collect();
        parts.push(description.as_bytes());
        OperatorId(fnv(&parts))
    }
}

impl std::fmt::Display for OperatorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// `[name type, ...]` of `schema`, for descriptions of operators whose state holds rows.
pub fn columns(schema: &arrow::datatypes::Schema) -> String {
    let columns: Vec<String> = schema.fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect();
    format!("[{}]", columns.join(", "))
}

/// 64-bit FNV-1a over `parts`, each preceded by its length (so that parts cannot run into
/// each other).
fn fnv(parts: &[&[u8]]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for part in parts {
        for byte in (part.len() as u64).to_be_bytes().iter().chain(part.iter()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    hash
}

/// The operators of a pipeline, in slot order, as stored with its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// A hash of every operator id, in order.
    pub fingerprint: String,
    /// Each operator: its id and what it computes.
    pub operators: Vec<StoredOperator>,
}

/// One operator of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOperator {
    /// Its [`OperatorId`], in hex.
    pub id: String,
    /// Its line of EXPLAIN.
    pub what: String,
}

impl Manifest {
    /// The manifest of `operators`, (id, description) in slot order.
    pub fn new(operators: &[(OperatorId, String)]) -> Manifest {
        let ids: Vec<OperatorId> = operators.iter().map(|(id, _)| *id).collect();
        Manifest {
            fingerprint: OperatorId::derive(&ids, "").to_string(),
            operators: operators
                .iter()
                .map(|(id, what)| StoredOperator { id: id.to_string(), what: what.clone() })
                .collect(),
        }
    }

    /// What differs from `stored`, for the error's detail.
    fn difference(&self, stored: &Manifest) -> String {
        let mut detail = format!(
            "The stored plan has fingerprint {} and {} operators; this sluice plans fingerprint {} with {} operators.",
            stored.fingerprint,
            stored.operators.len(),
            self.fingerprint,
            self.operators.len()
        );
        let first = (0..self.operators.len().max(stored.operators.len()))
            .find(|&i| self.operators.get(i).map(|o| &o.id) != stored.operators.get(i).map(|o| &o.id));
        if let Some(i) = first {
            let shown = |o: Option<&StoredOperator>| o.map_or("nothing".to_string(), |o| format!("\"{}\"", o.what));
            detail.push_str(&format!(
                " Operator {} was {}, is now {}.",
                i + 1,
                shown(stored.operators.get(i)),
                shown(self.operators.get(i))
            ));
        }
        detail
    }
}

/// How many shards the stored state of pipeline `view` is split into, from its manifest's
/// exchange (`Exchange: ... into N shards`): 1 without one, None without a manifest.
pub fn stored_shards(store: &Store, view: u64) -> Result<Option<usize>> {
    let Some(bytes) = store.get(&state_key(view, MANIFEST_SLOT, &[]))? else { return Ok(None) };
    let stored: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupted {
        what: format!("the plan manifest of pipeline {view}"),
        detail: format!("it does not decode: {e}"),
    })?;
    let shards = stored.operators.iter().find_map(|o| {
        let rest = o.what.strip_prefix("Exchange: ")?;
        rest.rsplit(" into ").next()?.strip_suffix(" shards")?.parse().ok()
    });
    Ok(Some(shards.unwrap_or(1)))
}

/// Records the manifest of `operators` for pipeline `view` (called `what` in errors) if
/// none is stored, or checks that the stored one is the same: [`Error::PlanChanged`] if
/// not, and nothing is written.
pub fn verify(store: &Store, view: u64, what: &str, operators: &[(OperatorId, String)]) -> Result<()> {
    let key = state_key(view, MANIFEST_SLOT, &[]);
    let planned = Manifest::new(operators);
    match store.get(&key)? {
        Some(bytes) => {
            let stored: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupted {
                what: format!("the plan manifest of {what}"),
                detail: format!("it does not decode: {e}"),
            })?;
            if stored.fingerprint != planned.fingerprint {
                return Err(Error::PlanChanged { what: what.to_string(), detail: planned.difference(&stored) });
            }
            Ok(())
        }
        None => {
            let bytes = serde_json::to_vec(&planned).map_err(|e| Error::Internal(format!("manifest: {e}")))?;
            store.commit(vec![(key, Some(bytes))])?;
            info!(pipeline = %what, fingerprint = %planned.fingerprint, "plan manifest recorded");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(descriptions: &[&str]) -> Vec<(OperatorId, String)> {
        let mut last = OperatorId::source(0, "bids");
        descriptions
            .iter()
            .map(|d| {
                last = OperatorId::derive(&[last], d);
                (last, d.to_string())
            })
            .collect()
    }

    #[test]
    fn ids_are_fixed_values_of_the_description_and_inputs() {
        // Fixed across builds and platforms (the value worked out with a few lines of Python
        // following FNV-1a): a changed value here would refuse every stored pipeline.
        assert_eq!(OperatorId::source(0, "bids").to_string(), "d42dbae7d87535d2");
        let a = OperatorId::derive(&[OperatorId::source(0, "bids")], "Filter: price > 10");
        let b = OperatorId::derive(&[OperatorId::source(1, "bids")], "Filter: price > 10");
        let c = OperatorId::derive(&[OperatorId::source(0, "bids")], "Filter: price > 11");
        assert!(a != b && a != c && b != c);
    }

    #[test]
    fn a_stored_manifest_must_match() {
        let store = Store::temporary().unwrap();
        let first = chain(&["Window: tumble size=10s", "Aggregate: group=[window_end] aggregates=[count(*)]"]);
        verify(&store, 7, "materialized view \"v\"", &first).unwrap();
        verify(&store, 7, "materialized view \"v\"", &first).unwrap();
        let changed = chain(&["Window: tumble size=10s", "Aggregate: group=[window_start] aggregates=[count(*)]"]);
        let error = verify(&store, 7, "materialized view \"v\"", &changed).unwrap_err();
        assert_eq!(error.sqlstate(), "55000");
        let detail = error.detail().unwrap();
        assert!(detail.contains("Operator 2 was \"Aggregate: group=[window_end]"), "{detail}");
        // Refused without writing: the stored manifest is still the first one.
        verify(&store, 7, "materialized view \"v\"", &first).unwrap();
    }
}
