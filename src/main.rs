//! The `sluice` command: `serve` starts the Postgres-wire server, `run` executes a script,
//! `hash-password` makes a SCRAM-SHA-256 verifier for the `--auth` file.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sluice::run::{OutputFormat, run_script};
use sluice::server::{Security, Tls, Users, Verifier};
use sluice::{ClusterConfig, Engine, EngineConfig, FileRoots, Store};
use tracing::{info, warn};

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
    Serve(Box<ServeArgs>),
    /// Execute a SQL script in a temporary instance over bounded sources and print results.
    Run {
        /// The script to execute.
        script: PathBuf,
        /// How rows are printed.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// A directory file streams and sinks may use (repeatable; default: the working
        /// directory).
        #[arg(long, value_name = "DIR")]
        file_root: Vec<PathBuf>,
        /// How many shards the keyed operators of each materialized view run as.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallelism: u16,
    },
    /// Read a password from standard input and print its SCRAM-SHA-256 verifier, for the
    /// file given to `serve --auth`.
    HashPassword {
        /// Print a whole auth-file line for this user instead of the verifier alone.
        #[arg(long)]
        user: Option<String>,
        /// PBKDF2 iterations a client runs to log in (Postgres's default is 4096).
        #[arg(long, default_value_t = sluice::server::DEFAULT_ITERATIONS)]
        iterations: u32,
    },
}

/// The options of `sluice serve`.
#[derive(Args)]
struct ServeArgs {
    /// Address to listen on for Postgres clients. The default accepts only local
    /// clients; 0.0.0.0:5433 accepts anyone who can reach the machine (use --auth then).
    #[arg(long, default_value = "127.0.0.1:5433")]
    listen: String,
    /// Directory of the durable store (created if missing).
    #[arg(long, default_value = "./sluice-data")]
    data_dir: PathBuf,
    /// Milliseconds between checkpoints; views show new results at each checkpoint.
    #[arg(long, default_value_t = 1000)]
    checkpoint_interval_ms: u64,
    /// File of users and their SCRAM-SHA-256 verifiers (see docs/security.md); every
    /// client must then log in with a password. Without it every user is trusted.
    #[arg(long, value_name = "FILE")]
    auth: Option<PathBuf>,
    /// PEM certificate chain (server certificate first) for clients asking for TLS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the TLS certificate.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Refuse clients that do not use TLS.
    #[arg(long, requires = "tls_cert")]
    tls_required: bool,
    /// Most clients connected at once; more are refused with 53300 (too many clients).
    #[arg(long, default_value_t = sluice::server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Of --max-connections, how many slots only superusers may take (with --auth), so an
    /// operator can get in when clients hold every other slot.
    #[arg(long, value_name = "N", default_value_t = sluice::server::DEFAULT_SUPERUSER_RESERVED)]
    superuser_reserved_connections: usize,
    /// Memory (MiB) that running queries may hold together in sorts, joins and
    /// aggregations; a query needing more fails with 53200 (out of memory).
    #[arg(long, value_name = "MIB", default_value_t = (sluice::DEFAULT_QUERY_MEMORY >> 20) as u64)]
    query_memory: u64,
    /// The default statement_mem of sessions, in MiB: how much of --query-memory one query
    /// may hold; a session can change its own with SET statement_mem.
    #[arg(long, value_name = "MIB", default_value_t = (sluice::DEFAULT_STATEMENT_MEM >> 20) as u64)]
    statement_mem: u64,
    /// Memory (MiB) the state of all materialized views, tables and sinks may hold together
    /// (groups, join rows, top-N rows, sessions, table indexes); a pipeline whose state
    /// grows beyond it fails with 53200 and the others go on. SHOW lists each one's share.
    #[arg(long, value_name = "MIB", default_value_t = (sluice::DEFAULT_STATE_MEMORY >> 20) as u64)]
    state_memory: u64,
    /// The default statement_timeout of sessions, in milliseconds (0: none); a session can
    /// change its own with SET statement_timeout.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    statement_timeout: u64,
    /// A directory file streams and sinks may use, after resolving symbolic links and
    /// `..` (repeatable; default: the working directory). See docs/security.md.
    #[arg(long, value_name = "DIR")]
    file_root: Vec<PathBuf>,
    /// How many shards the keyed operators (aggregates, top-N) of a new materialized view
    /// run as, each on a thread of its own; a view keeps the number it was created with.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    parallelism: u16,
    /// Join a cluster whose nodes meet on these Kafka brokers: kafka://host:port[,host:port].
    /// See docs/cluster.md.
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// The cluster's name: nodes with the same brokers and name form one Sluice.
    #[arg(long, value_name = "NAME", default_value = "sluice", requires = "cluster")]
    cluster_name: String,
    /// Replication factor of the cluster's internal topics (-1: the brokers' default).
    #[arg(long, value_name = "N", default_value_t = -1, requires = "cluster")]
    cluster_replication_factor: i32,
    /// A librdkafka property for the cluster's Kafka clients, such as
    /// security.protocol=SASL_SSL (repeatable).
    #[arg(long, value_name = "KEY=VALUE", requires = "cluster")]
    cluster_property: Vec<String>,
}

fn main() {
    if let Err(e) = start() {
        // One line, the causes joined: "cannot listen on ...: address already in use".
        eprintln!("sluice: {e:#}");
        std::process::exit(1);
    }
}

fn start() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        Command::Run { .. } | Command::HashPassword { .. } => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // A panic is a bug: log it as one line instead of printing a backtrace to stderr. Every
    // thread that runs SQL catches its panics and reports them as internal errors.
    std::panic::set_hook(Box::new(|info| tracing::error!(panic = %info, "panic")));
    let runtime = sluice::runtime::io_runtime().context("cannot start the async runtime")?;
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(*args)),
        Command::Run { script, format, file_root, parallelism } => {
            runtime.block_on(run(script, format, file_root, usize::from(parallelism)))
        }
        Command::HashPassword { user, iterations } => hash_password(user, iterations),
    };
    // Blocking work still running (a write to a failing disk) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs { listen, data_dir, checkpoint_interval_ms, .. } = &args;
    anyhow::ensure!(
        args.superuser_reserved_connections < args.max_connections,
        "--superuser-reserved-connections ({}) must be less than --max-connections ({})",
        args.superuser_reserved_connections,
        args.max_connections
    );
    anyhow::ensure!(args.statement_mem > 0, "--statement-mem must be at least 1 (MiB)");
    let security = security(&args)?;
    let store = Store::open(data_dir)?;
    let config = EngineConfig {
        checkpoint_interval: Duration::from_millis((*checkpoint_interval_ms).max(10)),
        query_memory: usize::try_from(args.query_memory.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        statement_timeout: Duration::from_millis(args.statement_timeout),
        statement_mem: usize::try_from(args.statement_mem.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        state_memory: usize::try_from(args.state_memory.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        file_roots: file_roots(&args.file_root)?,
        parallelism: usize::from(args.parallelism),
        ..EngineConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let config = EngineConfig { cluster: cluster(&args, address)?, ..config };
    let engine = Engine::open(store, config).await?;
    warn_if_exposed(address, &security);
    info!(%address, data_dir = %data_dir.display(), "sluice is ready for connections");
    let limits = sluice::server::Limits {
        max_connections: args.max_connections,
        superuser_reserved: args.superuser_reserved_connections,
    };
    sluice::server::serve(listener, engine.clone(), security, limits, shutdown_signal()).await?;
    // Pipelines take a last checkpoint; a stuck one (a full disk) must not keep the
    // process alive.
    if tokio::time::timeout(SHUTDOWN_PIPELINES, engine.shutdown()).await.is_err() {
        warn!(after = ?SHUTDOWN_PIPELINES, "pipelines did not stop in time; exiting anyway");
    }
    info!("sluice stopped");
    Ok(())
}

/// How long pipelines get to checkpoint and stop at shutdown.
const SHUTDOWN_PIPELINES: Duration = Duration::from_secs(10);

/// How this node joins its cluster (`--cluster`), if it does; `address` is where it listens.
fn cluster(args: &ServeArgs, address: SocketAddr) -> anyhow::Result<Option<ClusterConfig>> {
    let Some(url) = &args.cluster else { return Ok(None) };
    let servers = ClusterConfig::servers_from_url(url)?;
    ClusterConfig::check_name(&args.cluster_name)?;
    let properties = (args.cluster_property.iter())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
            _ => anyhow::bail!("--cluster-property \"{p}\" must be KEY=VALUE"),
        })
        .collect::<anyhow::Result<_>>()?;
    // A wildcard address is reached by the host's name.
    let host = if address.ip().is_unspecified() {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into())
    } else {
        address.ip().to_string()
    };
    Ok(Some(ClusterConfig {
        servers,
        name: args.cluster_name.clone(),
        replication_factor: args.cluster_replication_factor,
        properties,
        address: format!("{host}:{}", address.port()),
    }))
}

/// Loads the auth file and the TLS certificate, if given.
fn security(args: &ServeArgs) -> anyhow::Result<Security> {
    let users = args.auth.as_deref().map(Users::load).transpose()?.map(Arc::new);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Tls::load(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("--tls-cert and --tls-key go together: give both or neither"),
    };
    if let Some(users) = &users {
        info!(users = users.len(), "clients log in with SCRAM-SHA-256");
    }
    if tls.is_some() {
        info!(required = args.tls_required, "TLS enabled");
    }
    Ok(Security { users, tls, tls_required: args.tls_required })
}

/// The `--file-root` directories, or the working directory.
fn file_roots(dirs: &[PathBuf]) -> anyhow::Result<FileRoots> {
    let roots = if dirs.is_empty() { FileRoots::working_directory()? } else { FileRoots::new(dirs)? };
    let shown: Vec<String> = roots.roots().iter().map(|r| r.display().to_string()).collect();
    info!(roots = %shown.join(", "), "file streams and sinks are limited to the file roots");
    Ok(roots)
}

/// Warns when anyone who can reach a non-loopback address may connect as any user.
fn warn_if_exposed(address: SocketAddr, security: &Security) {
    if !address.ip().is_loopback() && security.users.is_none() {
        warn!(
            %address,
            "listening on a non-loopback address without --auth: anyone who can reach it can connect as any user"
        );
    }
}

/// `sluice hash-password`: reads one line (the password) and prints its verifier.
fn hash_password(user: Option<String>, iterations: u32) -> anyhow::Result<()> {
    let iterations = NonZeroU32::new(iterations).context("--iterations must be at least 1")?;
    let password = read_password()?;
    anyhow::ensure!(!password.is_empty(), "empty password");
    let verifier = Verifier::from_password(&password, iterations)?;
    match user {
        Some(user) if user.is_empty() || user.contains(char::is_whitespace) || user.contains('#') => {
            anyhow::bail!("user name \"{user}\" cannot be empty or contain spaces or '#'")
        }
        Some(user) => println!("{user} {verifier}"),
        None => println!("{verifier}"),
    }
    Ok(())
}

/// The first line of standard input, without its line ending. On a terminal it prompts
/// and turns echo off while the password is typed.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("Password: ");
        std::io::stderr().flush()?;
        stty("-echo");
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        stty("echo");
        eprintln!();
    }
    read.context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_string())
}

/// Sets a terminal mode with stty(1); without it the password is echoed, nothing worse.
fn stty(mode: &str) {
    let _ = Process::new("stty").arg(mode).stdin(Stdio::inherit()).stderr(Stdio::null()).status();
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

async fn run(script: PathBuf, format: OutputFormat, file_root: Vec<PathBuf>, parallelism: usize) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&script).with_context(|| format!("cannot read {}", script.display()))?;
    let roots = file_roots(&file_root)?;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = run_script(&text, format, roots, parallelism, &mut stdout).await {
        eprintln!("ERROR:  {e}");
        std::process::exit(1);
    }
    Ok(())
}
