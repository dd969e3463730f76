//! Starting, flushing and stopping the pipeline of one materialized view.
//!
//! A pipeline is two threads: the source stage ([`super::source`]) and its operators (a
//! [`Flow`]), joined by a bounded channel. The engine owns a [`Pipeline`] per view; it asks it to flush
//! (`FLUSH`, and before queries in `sluice run`), reads its [`PipelineStats`], and stops it on
//! DROP or shutdown. A pipeline that fails keeps the view's last committed contents and
//! reports the error in its stats; it never takes the server down. One whose checkpoint
//! could not be written fails the same way (the `FLUSH` waiting on it gets the error). A
//! view whose stored data is found damaged, by its pipeline or by a query, is marked
//! corrupted in its stats: failed in `SHOW`, and refused to queries (XX001) until dropped.
//! A view whose restore failed at start-up gets a [`Pipeline::failed`] without threads, so
//! it is listed and can be dropped. The operators' state counts against the server's
//! [`StateBudget`]; a pipeline that grows beyond it fails like any other.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;
use tracing::{error, info};

use super::budget::Reservation;
use super::exchange::{Exchange, Gather, Sharding};
use super::flow::Flow;
use super::install::{Built, Env, PipelineSpec};
use super::source::{Control, Routed};
use super::stats::{PipelineStats, Status};
use super::{Message, StateReader};
use crate::error::{Error, Result};

/// How long FLUSH waits for the status of a pipeline that dropped its checkpoint.
const ACK_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// Messages in flight between the source and the operators.
const CHANNEL_DEPTH: usize = 8;

/// A running view pipeline.
pub struct Pipeline {
    name: String,
    stats: Arc<PipelineStats>,
    /// Its threads here, by shard: one run for a pipeline that reads its input whole; in a
    /// cluster, one per shard of it this node runs (none while standing by).
    runs: Mutex<BTreeMap<u16, Run>>,
}

/// The threads of one run of a pipeline (of one shard of it).
struct Run {
    /// Reaches the source thread.
    control: Sender<Control>,
    threads: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Builds pipeline `spec` (see [`PipelineSpec::build`]), restores its operators' state
    /// and starts its threads, its state counted against the budget of `env`. The flow's
    /// operators must be the ones its state was stored by (see `super::identity`):
    /// otherwise [`Error::PlanChanged`] and no state is read or written.
    pub fn start(spec: PipelineSpec, env: &Env) -> Result<Pipeline> {
        let pipeline = Pipeline::standby(&spec.name, spec.stats.clone());
        pipeline.run(spec, env)?;
        Ok(pipeline)
    }

    /// A pipeline without threads, standing by while another node of the cluster runs it
    /// (its view's rows arrive through the cluster), until [`Pipeline::run`].
    pub fn standby(name: &str, stats: Arc<PipelineStats>) -> Pipeline {
        stats.set_status(Status::Standby);
        Pipeline { name: name.to_string(), stats, runs: Mutex::default() }
    }

    /// Starts the threads of `spec` in this pipeline, which has none running for the
    /// shard of its slice (a new one, or one standing by): see [`Pipeline::start`].
    pub fn run(&self, spec: PipelineSpec, env: &Env) -> Result<()> {
        let (view, what, slice) = (spec.id, spec.what.clone(), spec.slice);
        let name = match slice.shard() {
            Some(shard) => format!("{}#{shard}", spec.name),
            None => spec.name.clone(),
        };
        let Built { source, mut flow, mut shards } = spec.build(env)?;
        let store = env.store.clone();
        let stats = self.stats.clone();
        let (control_tx, control_rx) = mpsc::channel();
        let (data_tx, data_rx) = mpsc::sync_channel(CHANNEL_DEPTH);
        let mut operators = flow.operators();
        if let Some((sharding, tail)) = &shards {
            operators.push((sharding.id, sharding.what.clone()));
            operators.extend(sharding.flows.first().map(Flow::operators).unwrap_or_default());
            operators.extend(tail.operators());
        }
        super::identity::verify(&store, view, &what, &operators)?;
        let mut next = 1;
        flow.open_shard(&store, view, &mut next, slice.shard())?;
        if let Some((sharding, tail)) = &mut shards {
            // The exchange has a slot of its own, without state.
            let first = next + 1;
            for (shard, flow) in sharding.flows.iter_mut().enumerate() {
                next = first;
                flow.open_shard(&store, view, &mut next, Some(shard as u16))?;
            }
            tail.open(&store, view, &mut next)?;
        }
        stats.stopping.store(false, Ordering::Relaxed);
        stats.set_status(Status::Running);
        let source_thread = {
            let (stats, store, name) = (stats.clone(), store.clone(), name.to_string());
            crate::runtime::spawn_thread(format!("src-{name}"), move || {
                let state = StateReader { store: &store, view, operator: 0, shard: slice.shard() };
                let result = catch_panic(|| source.run(&state, control_rx, data_tx));
                if let Err(e) = result {
                    fail(&name, &stats, e);
                }
            })?
        };
        let mut threads = vec![source_thread];
        match shards {
            None => threads.push(spawn_operators(&name, data_rx, flow, env, &stats)?),
            Some((sharding, tail)) => threads.extend(spawn_shards(&name, data_rx, flow, sharding, tail, env, &stats)?),
        }
        info!(view = %name, "pipeline started");
        self.lock_runs()?.insert(slice.index, Run { control: control_tx, threads });
        Ok(())
    }

    fn lock_runs(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<u16, Run>>> {
        self.runs.lock().map_err(|_| Error::Internal("pipeline lock poisoned".into()))
    }

    /// The shards this node runs (0 alone for a pipeline that reads its input whole),
    /// including any that failed here.
    pub fn shards_here(&self) -> Vec<u16> {
        self.runs.lock().map(|runs| runs.keys().copied().collect()).unwrap_or_default()
    }

    /// The stand-in pipeline of a view whose restore at start-up failed with `error`: no
    /// threads, status failed, so the view is listed in SHOW and DROP removes it.
    pub fn failed(name: &str, stats: Arc<PipelineStats>, error: &Error) -> Pipeline {
        if error.is_corrupted() {
            stats.mark_corrupted(error);
        } else {
            stats.set_status(Status::Failed(error.to_string()));
        }
        Pipeline { name: name.to_string(), stats, runs: Mutex::default() }
    }

    /// Counters and status.
    pub fn stats(&self) -> &Arc<PipelineStats> {
        &self.stats
    }

    /// Waits until everything the source can read now is processed and durably committed.
    /// Returns at once for a finished pipeline, and as soon as it waits for an external
    /// system (SHOW SINKS tells); fails for a failed one.
    pub async fn flush(&self) -> Result<()> {
        let mut status = self.stats.watch_status();
        let mut acked = true;
        if self.stats.status() == Status::Running {
            let mut acks = Vec::new();
            for control in self.controls() {
                let (tx, rx) = oneshot::channel();
                if control.send(Control::Flush(tx)).is_ok() {
                    acks.push(rx);
                }
            }
            if !acks.is_empty() {
                let all = async { futures::future::join_all(acks).await.iter().all(Result::is_ok) };
                acked = tokio::select! {
                    acked = all => acked,
                    _ = status.wait_for(|s| *s != Status::Running) => true,
                };
                if !acked {
                    // The checkpoint was dropped, not committed: the pipeline failed or
                    // stopped; its status says which once its thread has set it.
                    let _ = tokio::time::timeout(ACK_GRACE, status.wait_for(|s| *s != Status::Running)).await;
                }
            } else if !self.stats.stopping.load(Ordering::Relaxed) {
                // The source has read a bounded input to its end and left; its last
                // checkpoint may still be on its way through the operators.
                let _ = status.wait_for(|s| *s != Status::Running).await;
            }
        }
        match self.stats.status() {
            Status::Failed(reason) => Err(Error::Connector(format!("view \"{}\" failed: {reason}", self.name))),
            // The input ended while the flush was on its way, and the operators committed
            // all of it before they finished: what the flush waited for is durable.
            Status::Finished => Ok(()),
            _ if !acked => {
                Err(Error::Shutdown(format!("view \"{}\" stopped before its checkpoint was durable", self.name)))
            }
            _ => Ok(()),
        }
    }

    /// Waits until a bounded input has been processed completely.
    pub async fn finished(&self) -> Result<()> {
        let mut status = self.stats.watch_status();
        let _ = status.wait_for(|s| *s != Status::Running).await;
        self.flush().await
    }

    /// Stops its threads and waits for them, so nothing is written for this view afterwards.
    pub async fn stop(&self) {
        self.stats.stopping.store(true, Ordering::Relaxed);
        let runs = self.runs.lock().map(|mut runs| std::mem::take(&mut *runs).into_values().collect());
        end(runs.unwrap_or_default()).await;
    }

    /// Stops the threads of shard `shard`, which another node of the cluster runs now;
    /// the pipeline stands by once it runs no shard here.
    pub async fn stand_by_shard(&self, shard: u16) {
        let (run, left) = match self.runs.lock() {
            Ok(mut runs) => (runs.remove(&shard), runs.len()),
            Err(_) => (None, 0),
        };
        end(run.into_iter().collect()).await;
        self.stats.forget_shard(shard);
        if left == 0 {
            self.stats.set_status(Status::Standby);
        }
    }

    /// What reaches the source thread of each run.
    fn controls(&self) -> Vec<Sender<Control>> {
        self.runs.lock().map(|runs| runs.values().map(|r| r.control.clone()).collect()).unwrap_or_default()
    }
}

/// Stops `runs` and waits for their threads.
async fn end(runs: Vec<Run>) {
    for run in &runs {
        let _ = run.control.send(Control::Stop);
    }
    let _ = tokio::task::spawn_blocking(move || {
        for t in runs.into_iter().flat_map(|r| r.threads) {
            let _ = t.join();
        }
    })
    .await;
}

/// Starts the operator thread of an unsharded pipeline: `flow` over what the source sends.
fn spawn_operators(
    name: &str,
    input: Receiver<Routed>,
    flow: Flow,
    env: &Env,
    stats: &Arc<PipelineStats>,
) -> Result<JoinHandle<()>> {
    let (stats, name) = (stats.clone(), name.to_string());
    let memory = env.budget.reserve(name.as_str());
    Ok(crate::runtime::spawn_thread(format!("ops-{name}"), move || {
        let held = [AtomicU64::new(0)];
        let result = catch_panic(|| run_operators(input, flow, memory, &stats, (&held, 0), |_| true));
        stats.state_bytes.store(0, Ordering::Relaxed);
        finish(&name, &stats, result);
    })?)
}

/// Starts the threads of a sharded pipeline (see [`super::exchange`]): one that runs the
/// operators before the exchange and splits their rows among the shards, one per shard,
/// and one that gathers what the shards send into `tail`.
fn spawn_shards(
    name: &str,
    input: Receiver<Routed>,
    mut prefix: Flow,
    sharding: Sharding,
    tail: Flow,
    env: &Env,
    stats: &Arc<PipelineStats>,
) -> Result<Vec<JoinHandle<()>>> {
    let count = sharding.flows.len();
    let exchange = Exchange::new(sharding.key, count);
    let (gather_tx, gather_rx) = mpsc::sync_channel::<Routed>(CHANNEL_DEPTH * count);
    let held: Arc<Vec<AtomicU64>> = Arc::new((0..count).map(|_| AtomicU64::new(0)).collect());
    let mut threads = Vec::new();
    let mut senders = Vec::new();
    for (shard, flow) in sharding.flows.into_iter().enumerate() {
        let (tx, rx) = mpsc::sync_channel::<Routed>(CHANNEL_DEPTH);
        senders.push(tx);
        let (stats, name, out, held) = (stats.clone(), format!("{name}#{shard}"), gather_tx.clone(), held.clone());
        let memory = env.budget.reserve(name.as_str());
        threads.push(crate::runtime::spawn_thread(format!("ops-{name}"), move || {
            let emit = |msg: Message| out.send((shard, msg)).is_ok();
            let result = catch_panic(|| run_operators(rx, flow, memory, &stats, (&held, shard), emit));
            held[shard].store(0, Ordering::Relaxed);
            stats.state_bytes.store(held.iter().map(|h| h.load(Ordering::Relaxed)).sum(), Ordering::Relaxed);
            if let Err(e) = result {
                fail(&name, &stats, e);
            }
        })?);
    }
    drop(gather_tx);
    let (route_stats, route_name) = (stats.clone(), name.to_string());
    threads.push(crate::runtime::spawn_thread(format!("route-{name}"), move || {
        let result = catch_panic(|| {
            let mut out = Vec::new();
            while let Ok((from, msg)) = input.recv() {
                prefix.push(from, msg, &mut out)?;
                for msg in out.drain(..) {
                    for (shard, part) in exchange.split(msg)?.into_iter().enumerate() {
                        if let Some(part) = part
                            && senders[shard].send((0, part)).is_err()
                        {
                            return Ok(());
                        }
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            fail(&route_name, &route_stats, e);
        }
    })?);
    let (stats, name) = (stats.clone(), name.to_string());
    threads.push(crate::runtime::spawn_thread(format!("ops-{name}"), move || {
        // The operators after the shards write the output; they hold no state.
        let result = catch_panic(|| {
            let mut tail = tail;
            let mut gather = Gather::new(count);
            let (mut gathered, mut out) = (Vec::new(), Vec::new());
            while let Ok((shard, msg)) = gather_rx.recv() {
                gather.push(shard, msg, &mut gathered)?;
                for msg in gathered.drain(..) {
                    let end = matches!(msg, Message::End);
                    tail.push(0, msg, &mut out)?;
                    out.clear();
                    if end {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        });
        finish(&name, &stats, result);
    })?);
    Ok(threads)
}

/// Sets the status of a pipeline whose last operators returned `result`.
fn finish(name: &str, stats: &PipelineStats, result: Result<bool>) {
    match result {
        Ok(true) => stats.set_status(Status::Finished),
        Ok(false) => {}
        Err(e) => fail(name, stats, e),
    }
}

/// Runs `f`, turning a panic into an internal error so a bug fails one view, not the server.
pub(super) fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => Err(crate::error::from_panic(panic)),
    }
}

fn fail(name: &str, stats: &PipelineStats, e: Error) {
    if matches!(e, Error::Shutdown(_)) {
        return;
    }
    if e.is_corrupted() {
        let e = e.corrupting(format!("the checkpoint of \"{name}\""));
        error!(view = %name, error = %e, detail = e.detail().unwrap_or_default(), "pipeline failed: data corrupted");
        stats.mark_corrupted(&e);
        return;
    }
    let reason = match e.detail() {
        Some(detail) => format!("{e} ({detail})"),
        None => e.to_string(),
    };
    error!(view = %name, error = %reason, "pipeline failed");
    stats.set_status(Status::Failed(reason));
}

/// Runs messages through the operators, keeping `memory` and the stats at the size of
/// their state (`held.0[held.1]` is theirs, the others the other shards' of the same
/// pipeline, summed into the stats), and hands what leaves them to `emit` (false: nobody listens any
/// more). Returns true when the input ended.
fn run_operators(
    input: Receiver<Routed>,
    mut flow: Flow,
    mut memory: Reservation,
    stats: &PipelineStats,
    (held, mine): (&[AtomicU64], usize),
    mut emit: impl FnMut(Message) -> bool,
) -> Result<bool> {
    let mut out = Vec::new();
    let mut account = |flow: &Flow| {
        let bytes = flow.state_bytes();
        if bytes != memory.held() {
            held[mine].store(bytes as u64, Ordering::Relaxed);
            let total: u64 = held.iter().map(|h| h.load(Ordering::Relaxed)).sum();
            stats.state_bytes.store(total, Ordering::Relaxed);
            memory.set(bytes)?;
        }
        Ok::<_, Error>(())
    };
    account(&flow)?;
    while let Ok((from, msg)) = input.recv() {
        let end = matches!(msg, Message::End);
        flow.push(from, msg, &mut out)?;
        for msg in out.drain(..) {
            if !emit(msg) {
                return Ok(false);
            }
        }
        account(&flow)?;
        if end {
            return Ok(true);
        }
    }
    Ok(false)
}
