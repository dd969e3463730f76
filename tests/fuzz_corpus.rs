//! Replays the committed seed corpora of the fuzz targets (`fuzz/corpus/<target>/`)
//! through the same functions `cargo fuzz` drives (`sluice::fuzz`), so every test run
//! checks that no seed makes Sluice panic, and a crash once found and added to a corpus
//! stays fixed. The fuzzing itself is `scripts/fuzz` (see docs/reliability.md).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Panics seen anywhere in the process (the engine turns a panic inside a statement into
/// an error, so the hook is where they show).
static PANICS: AtomicUsize = AtomicUsize::new(0);
/// The targets run one at a time: the panic count is per target.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs every seed of `target`; returns how many seeds were accepted in part (see
/// `sluice::fuzz`): seeds that all stop at the first refusal would test little.
fn replay(target: &str, run: fn(&[u8]) -> usize) -> usize {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no seeds in {}", dir.display());
    let mut failed = Vec::new();
    let mut accepted = 0;
    for input in &inputs {
        let before = PANICS.load(Ordering::SeqCst);
        let data = std::fs::read(input).unwrap();
        match std::panic::catch_unwind(|| run(&data)) {
            Ok(n) if PANICS.load(Ordering::SeqCst) == before => accepted += usize::from(n > 0),
            _ => failed.push(input.display().to_string()),
        }
    }
    let _ = std::panic::take_hook();
    assert!(failed.is_empty(), "{target}: {} of {} seeds panicked: {failed:?}", failed.len(), inputs.len());
    eprintln!("{target}: {accepted} of {} seeds accepted in part", inputs.len());
    accepted
}

#[test]
fn sql_seeds() {
    // Most seeds are queries and views of the slt files, over objects the harness lacks;
    // those over its own stream, table and view plan.
    assert!(replay("sql", sluice::fuzz::sql) >= 20);
}

#[test]
fn pgwire_seeds() {
    // Every seed gets an answer (rows, an error or a refusal) but the cancel request, which
    // Postgres answers by closing the connection. `crash-parse-short-types` is the fuzzer's
    // first find: a Parse whose parameter types are cut short, which made pgwire panic and
    // now gets FATAL 08P01; `crash-startup-length-short` its third, a startup message whose
    // length ends before its parameters, which gets FATAL 08P01 too; `crash-execute-max-rows`
    // its fourth, an Execute asking for a billion rows, for which pgwire reserved tens of
    // gigabytes and aborted the process: it is served at most 1,048,576 rows at a time.
    assert_eq!(replay("pgwire", sluice::fuzz::pgwire), 14);
}

#[test]
fn records_seeds() {
    assert_eq!(replay("records", sluice::fuzz::records), 4);
}

#[test]
fn avro_seeds() {
    assert_eq!(replay("avro", sluice::fuzz::avro), 2);
}

#[test]
fn options_seeds() {
    assert_eq!(replay("options", sluice::fuzz::options), 8);
}
