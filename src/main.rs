//! The `sluice` command: `serve` starts the Postgres-wire server, `run` executes a script.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sluice::run::{OutputFormat, run_script};
use sluice::state::Store;
use sluice::{Engine, EngineConfig};
use tracing::info;

/// mimalloc: Arrow batches are allocated on one thread and freed on another, which glibc's
/// allocator handles with much more page-faulting and fragmentation.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sluice: a streaming SQL database that speaks the Postgres protocol.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server and keep materialized views up to date until stopped.
    Serve {
        /// Address to listen on for Postgres clients.
        #[arg(long, default_value = "127.0.0.1:5433")]
        listen: String,
        /// Directory of the durable store (created if missing).
        #[arg(long, default_value = "./sluice-data")]
        data_dir: PathBuf,
        /// Milliseconds between checkpoints; views show new results at each checkpoint.
        #[arg(long, default_value_t = 1000)]
        checkpoint_interval_ms: u64,
    },
    /// Execute a SQL script in a temporary instance over bounded sources and print results.
    Run {
        /// The script to execute.
        script: PathBuf,
        /// How rows are printed.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        Command::Run { .. } => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve { listen, data_dir, checkpoint_interval_ms } => {
            runtime.block_on(serve(listen, data_dir, checkpoint_interval_ms))
        }
        Command::Run { script, format } => runtime.block_on(run(script, format)),
    }
}

async fn serve(listen: String, data_dir: PathBuf, checkpoint_interval_ms: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let store = Store::open(&data_dir).with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
    let config = EngineConfig {
        checkpoint_interval: Duration::from_millis(checkpoint_interval_ms.max(10)),
        ..EngineConfig::default()
    };
    let engine = Engine::open(store, config).await?;
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    info!(address = %listener.local_addr()?, data_dir = %data_dir.display(), "sluice is ready for connections");
    sluice::server::run(listener, engine.clone(), shutdown_signal()).await?;
    engine.shutdown().await;
    info!("sluice stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

async fn run(script: PathBuf, format: OutputFormat) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&script).with_context(|| format!("cannot read {}", script.display()))?;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = run_script(&text, format, &mut stdout).await {
        eprintln!("ERROR:  {e}");
        std::process::exit(1);
    }
    Ok(())
}
