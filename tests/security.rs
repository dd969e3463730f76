//! Security with real clients against the real binary: `--auth` with SCRAM-SHA-256 (psql
//! and tokio-postgres, right and wrong passwords, unknown users, a verifier made the way
//! Postgres makes them), TLS (psql `sslmode=require` / `verify-full` with a CA made here,
//! channel binding, tokio-postgres over rustls, `--tls-required`), cancel requests that
//! interrupt ordinary statements and leave the connection usable, and clear startup
//! errors for bad configuration. Certificates and keys are generated per test (rcgen).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Server;
use pgwire::tokio::tokio_rustls::rustls;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

/// A query that keeps DataFusion busy far longer than any test runs (10^12 rows).
const ENDLESS: &str = "SELECT max(value * 2) FROM generate_series(1, 1000000000000)";

/// Another, a cross join (10^11 rows) running on every core.
const ENDLESS_JOIN: &str =
    "SELECT max(a.value + b.value) FROM generate_series(1, 1000000) a, generate_series(1, 100000) b";

/// An auth file: alice (password "alice-pw", made by `sluice hash-password`) and carol
/// (password "carol-pw", a verifier made by postgres-protocol, as Postgres stores them).
fn users_file(dir: &Path) -> PathBuf {
    let alice = common::users_line("alice", "alice-pw");
    assert!(alice.starts_with("alice SCRAM-SHA-256$4096:"), "{alice}");
    let carol = postgres_protocol::password::scram_sha_256(b"carol-pw");
    let path = dir.join("users.conf");
    std::fs::write(&path, format!("# test users\n{alice}\ncarol {carol}  # copied from Postgres\n")).unwrap();
    path
}

/// A CA and a server certificate it signed for localhost and 127.0.0.1, as PEM files.
struct Certificates {
    ca: PathBuf,
    ca_der: rustls::pki_types::CertificateDer<'static>,
    cert: PathBuf,
    key: PathBuf,
}

fn certificates(dir: &Path) -> Certificates {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Sluice test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let server_cert = params.signed_by(&server_key, &issuer).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    Certificates {
        ca: write("ca.pem", ca_cert.pem()),
        ca_der: ca_cert.der().clone(),
        cert: write("server.pem", server_cert.pem()),
        key: write("server.key", server_key.serialize_pem()),
    }
}

/// Runs `sql` with psql on `conninfo`, with `password` in PGPASSWORD; never prompts.
fn psql(dir: &Path, conninfo: &str, password: Option<&str>, sql: &str) -> Output {
    let mut command = Command::new("psql");
    command.args([conninfo, "-X", "-w", "-A", "-t", "-c", sql]).env("PGCONNECT_TIMEOUT", "10").env("HOME", dir);
    for variable in ["PGPASSWORD", "PGSSLMODE", "PGUSER", "PGHOST", "PGPORT", "PGCHANNELBINDING", "PGSSLROOTCERT"] {
        command.env_remove(variable);
    }
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.output().expect("psql is installed (scripts/test installs postgresql-client)")
}

/// psql's standard output, failing the test when psql failed.
fn psql_ok(dir: &Path, conninfo: &str, password: Option<&str>, sql: &str) -> String {
    let output = psql(dir, conninfo, password, sql);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{conninfo}: psql failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// psql's standard error, failing the test when psql succeeded.
fn psql_err(dir: &Path, conninfo: &str, password: Option<&str>) -> String {
    let output = psql(dir, conninfo, password, "SELECT 1");
    assert!(!output.status.success(), "{conninfo}: psql should have failed");
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn conninfo(server: &Server, user: &str, extra: &str) -> String {
    format!("host=127.0.0.1 port={} user={user} dbname=sluice {extra}", server.port)
}

/// Connects tokio-postgres without TLS.
async fn connect(server: &Server, user: &str, password: &str) -> Result<Client, tokio_postgres::Error> {
    let config = format!("{} password={password}", conninfo(server, user, ""));
    let (client, connection) = tokio_postgres::connect(&config, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Checks that `result` failed with a FATAL `code` and `message` from the server.
fn assert_fatal<T>(result: Result<T, tokio_postgres::Error>, code: &SqlState, message: &str) {
    let Err(error) = result else { panic!("expected {message}") };
    let db = error.as_db_error().unwrap_or_else(|| panic!("not a server error: {error}"));
    assert_eq!(db.code(), code, "{db}");
    assert_eq!(db.severity(), "FATAL", "{db}");
    assert_eq!(db.message(), message);
}

#[test]
fn psql_logs_in_with_the_right_password_only() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let server = Server::start_with(&dir.path().join("db"), &["--auth", users.to_str().unwrap()]);
    let plain = "sslmode=disable";
    assert_eq!(psql_ok(dir.path(), &conninfo(&server, "alice", plain), Some("alice-pw"), "SELECT 1"), "1");
    assert_eq!(psql_ok(dir.path(), &conninfo(&server, "carol", plain), Some("carol-pw"), "SELECT 2"), "2");
    let wrong = psql_err(dir.path(), &conninfo(&server, "alice", plain), Some("carol-pw"));
    assert!(wrong.contains("FATAL:  password authentication failed for user \"alice\""), "{wrong}");
    // An unknown user reads exactly like a wrong password.
    let unknown = psql_err(dir.path(), &conninfo(&server, "mallory", plain), Some("alice-pw"));
    assert!(unknown.contains("FATAL:  password authentication failed for user \"mallory\""), "{unknown}");
    let none = psql_err(dir.path(), &conninfo(&server, "alice", plain), None);
    assert!(none.contains("no password supplied"), "{none}");
    // Against a server without a certificate, a client demanding TLS stops at once.
    let no_tls = psql_err(dir.path(), &conninfo(&server, "alice", "sslmode=require"), Some("alice-pw"));
    assert!(no_tls.contains("server does not support SSL, but SSL was required"), "{no_tls}");
}

#[tokio::test]
async fn password_errors_are_fatal_28p01() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let server = Server::start_with(&dir.path().join("db"), &["--auth", users.to_str().unwrap()]);
    let client = connect(&server, "alice", "alice-pw").await.unwrap();
    assert_eq!(common::query_rows(&client, "SELECT 1 + 1").await, vec![vec!["2".to_string()]]);
    let bad = &SqlState::INVALID_PASSWORD;
    assert_fatal(connect(&server, "alice", "nope").await, bad, "password authentication failed for user \"alice\"");
    assert_fatal(connect(&server, "nobody", "nope").await, bad, "password authentication failed for user \"nobody\"");
    // The failures did not disturb the session that logged in.
    assert_eq!(common::query_rows(&client, "SELECT 3").await, vec![vec!["3".to_string()]]);
}

#[test]
fn tls_with_psql_and_channel_binding() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let certs = certificates(dir.path());
    let server = Server::start_with(
        &dir.path().join("db"),
        &[
            "--auth",
            users.to_str().unwrap(),
            "--tls-cert",
            certs.cert.to_str().unwrap(),
            "--tls-key",
            certs.key.to_str().unwrap(),
        ],
    );
    let require = conninfo(&server, "alice", "sslmode=require");
    assert_eq!(psql_ok(dir.path(), &require, Some("alice-pw"), "SELECT 1"), "1");
    let ca = certs.ca.display();
    let verified =
        format!("host=localhost port={} user=alice dbname=sluice sslmode=verify-full sslrootcert={ca}", server.port);
    assert_eq!(psql_ok(dir.path(), &verified, Some("alice-pw"), "SELECT 2"), "2");
    // SCRAM-SHA-256-PLUS: the exchange is bound to the server's certificate.
    let bound = format!("{verified} channel_binding=require");
    assert_eq!(psql_ok(dir.path(), &bound, Some("alice-pw"), "SELECT 3"), "3");
    let wrong = psql_err(dir.path(), &bound, Some("bad"));
    assert!(wrong.contains("password authentication failed for user \"alice\""), "{wrong}");
    // Channel binding needs TLS.
    let plain_bound = conninfo(&server, "alice", "sslmode=disable channel_binding=require");
    let refused = psql_err(dir.path(), &plain_bound, Some("alice-pw"));
    assert!(refused.contains("channel binding"), "{refused}");
    // Plain connections still work unless TLS is required.
    assert_eq!(psql_ok(dir.path(), &conninfo(&server, "carol", "sslmode=disable"), Some("carol-pw"), "SELECT 4"), "4");
}

/// A rustls client trusting only `ca`.
fn tls_connector(ca: &rustls::pki_types::CertificateDer<'static>) -> tokio_postgres_rustls::MakeRustlsConnect {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

#[tokio::test]
async fn tls_required_refuses_plain_clients() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let certs = certificates(dir.path());
    let cert = certs.cert.to_str().unwrap();
    let key = certs.key.to_str().unwrap();
    let args = ["--auth", users.to_str().unwrap(), "--tls-cert", cert, "--tls-key", key, "--tls-required"];
    let server = Server::start_with(&dir.path().join("db"), &args);
    // tokio-postgres over rustls, verifying the certificate, with SCRAM-SHA-256-PLUS.
    let config = format!(
        "host=localhost port={} user=carol password=carol-pw dbname=sluice sslmode=require channel_binding=require",
        server.port
    );
    let (client, connection) = tokio_postgres::connect(&config, tls_connector(&certs.ca_der)).await.unwrap();
    tokio::spawn(connection);
    assert_eq!(common::query_rows(&client, "SELECT 'secure'").await, vec![vec!["secure".to_string()]]);
    let message = "connection without TLS refused for host \"127.0.0.1\", user \"carol\": the server requires TLS";
    assert_fatal(connect(&server, "carol", "carol-pw").await, &SqlState::INVALID_AUTHORIZATION_SPECIFICATION, message);
    let plain = psql_err(dir.path(), &conninfo(&server, "alice", "sslmode=disable"), Some("alice-pw"));
    assert!(plain.contains("FATAL:  connection without TLS refused"), "{plain}");
    // psql's default (sslmode=prefer) finds TLS and logs in.
    assert_eq!(psql_ok(dir.path(), &conninfo(&server, "alice", ""), Some("alice-pw"), "SELECT 5"), "5");
}

/// Runs `query` on `client` while sending cancel requests (they carry only the cancel
/// key, no password), until the query ends; returns how it ended and the cancels sent.
async fn cancel_while_running<F>(client: &Client, query: F) -> (Result<(), tokio_postgres::Error>, usize)
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>>,
{
    let token = client.cancel_token();
    tokio::pin!(query);
    let give_up = Instant::now() + Duration::from_secs(300);
    let mut sent = 0;
    loop {
        tokio::select! {
            ended = &mut query => return (ended, sent),
            // A cancel that arrives before the statement starts is ignored: send another.
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                assert!(Instant::now() < give_up, "the query was not cancelled after {sent} cancel requests");
                token.cancel_query(NoTls).await.unwrap();
                sent += 1;
            }
        }
    }
}

/// Checks that the connection is still usable. A cancel sent just before the statement
/// ended may still reach the server afterwards and hit this check's query, as it may in
/// Postgres: it is retried then, once for each cancel sent.
async fn still_usable(client: &Client, cancels: usize) {
    for _ in 0..=cancels {
        match client.simple_query("SELECT 'usable'").await {
            Ok(_) => return,
            Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => continue,
            Err(e) => panic!("the connection broke after a cancel: {e}"),
        }
    }
    panic!("every query was cancelled");
}

fn assert_canceled(ended: Result<(), tokio_postgres::Error>) {
    let error = ended.expect_err("the endless query returned");
    let db = error.as_db_error().unwrap_or_else(|| panic!("not a server error: {error}"));
    assert_eq!(db.code(), &SqlState::QUERY_CANCELED, "{db}");
    assert_eq!(db.severity(), "ERROR");
    assert_eq!(db.message(), "canceling statement due to user request");
}

#[tokio::test]
async fn cancel_interrupts_ordinary_statements() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let server = Server::start_with(&dir.path().join("db"), &["--auth", users.to_str().unwrap()]);
    let client = connect(&server, "alice", "alice-pw").await.unwrap();
    // The extended protocol (Parse, Bind, Execute).
    let (ended, cancels) = cancel_while_running(&client, async { client.query(ENDLESS, &[]).await.map(|_| ()) }).await;
    assert_canceled(ended);
    still_usable(&client, cancels).await;
    // The simple query protocol.
    let (ended, cancels) =
        cancel_while_running(&client, async { client.simple_query(ENDLESS).await.map(|_| ()) }).await;
    assert_canceled(ended);
    still_usable(&client, cancels).await;
    // Last, as its tasks may go on burning CPU until DataFusion's next yield point.
    let join = async { client.simple_query(ENDLESS_JOIN).await.map(|_| ()) };
    let (ended, cancels) = cancel_while_running(&client, join).await;
    assert_canceled(ended);
    still_usable(&client, cancels).await;
    assert_eq!(common::query_rows(&client, "SELECT 6").await, vec![vec!["6".to_string()]]);
}

/// Starts `sluice serve` with `args` expecting it to fail; returns its standard error.
fn serve_fails(dir: &Path, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--listen", &format!("127.0.0.1:{}", common::free_port())])
        .arg("--data-dir")
        .arg(dir.join("db"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    let give_up = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > give_up {
            let _ = child.kill();
            panic!("sluice serve {args:?} did not fail");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "sluice serve {args:?} exited successfully");
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn bad_configuration_fails_startup_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, format!("{}\nbob hunter2\n", std::fs::read_to_string(&users).unwrap().trim())).unwrap();
    let error = serve_fails(dir.path(), &["--auth", bad.to_str().unwrap()]);
    let expected = format!("{}:4: the password of user \"bob\" must be a SCRAM-SHA-256 verifier", bad.display());
    assert!(error.contains(&expected), "{error}");
    let missing = dir.path().join("missing.conf");
    let error = serve_fails(dir.path(), &["--auth", missing.to_str().unwrap()]);
    assert!(error.contains(&format!("cannot read auth file \"{}\"", missing.display())), "{error}");
    let certs = certificates(dir.path());
    let error = serve_fails(dir.path(), &["--tls-cert", certs.cert.to_str().unwrap()]);
    assert!(error.contains("--tls-key"), "{error}");
    let error =
        serve_fails(dir.path(), &["--tls-cert", certs.key.to_str().unwrap(), "--tls-key", certs.key.to_str().unwrap()]);
    assert!(error.contains("cannot read TLS certificate"), "{error}");
}
