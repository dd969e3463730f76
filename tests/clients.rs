//! Real Postgres clients against the real server: pgjdbc (Java), psycopg 3 (Python) and
//! node-postgres run the programs in `tests/clients/`. Each creates a stream and a
//! materialized view, reads the view, round-trips every type of the compatibility list in
//! text and binary, and checks that errors carry their SQLSTATE and leave the connection
//! usable; it prints `FAIL ...` for each failed check and exits 1 if any failed.
//! SQLAlchemy (over psycopg 3) browses the database as Superset does: `inspect()` listings
//! and columns, reflection of a view, and a Core query of it.
//!
//! `scripts/test` installs the clients and names them in environment variables
//! (`SLUICE_PGJDBC_JAR`, `SLUICE_PYTHON`, `SLUICE_NODE_MODULES`); without them these tests
//! fail, saying so.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, repo_root};

/// How long a client program may run before it is killed as hung (it normally takes seconds).
const HUNG: Duration = Duration::from_secs(600);

/// The path an environment variable set by `scripts/test` names.
fn installed(var: &str, what: &str) -> PathBuf {
    let Some(path) = std::env::var_os(var).map(PathBuf::from) else {
        panic!("{var} is not set: run scripts/test, which installs {what} and sets it");
    };
    assert!(path.exists(), "{var}={} does not exist: run scripts/test, which installs {what}", path.display());
    path
}

/// The directory of the client programs.
fn programs() -> PathBuf {
    repo_root().join("tests").join("clients")
}

/// Runs `command` to its end (killing it if hung) and returns its status and output.
fn run(name: &str, mut command: Command) -> (std::process::ExitStatus, String) {
    let mut child = command
        .current_dir(repo_root())
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let readers = [child.stdout.take().map(reader), child.stderr.take().map(reader)];
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the client") {
            break status;
        }
        if started.elapsed() > HUNG {
            let _ = child.kill();
            panic!("{name} still running after {HUNG:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output: Vec<String> = readers.into_iter().flatten().map(|r| r.join().expect("read output")).collect();
    (status, output.join("\n"))
}

/// Reads a pipe to its end on a thread of its own.
fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs a client program against a fresh server and fails with its output unless every
/// check passed.
fn run_client(name: &str, command: impl FnOnce(u16) -> Command) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (status, output) = run(name, command(server.port));
    println!("{output}");
    assert!(status.success(), "{name} failed ({status}):\n{output}");
    assert!(output.contains(" passed, 0 failed"), "{name} printed no summary:\n{output}");
    assert!(!output.contains("FAIL"), "{name}:\n{output}");
}

/// Compiles `Jdbc.java` into `classes`.
fn compile_jdbc(jar: &Path, classes: &Path) {
    let mut javac = Command::new("javac");
    javac.arg("-d").arg(classes).arg("-cp").arg(jar).arg(programs().join("Jdbc.java"));
    let (status, output) = run("javac", javac);
    assert!(status.success(), "javac failed:\n{output}");
}

#[test]
fn pgjdbc() {
    let jar = installed("SLUICE_PGJDBC_JAR", "pgjdbc (Debian's libpostgresql-jdbc-java)");
    let classes = tempfile::tempdir().unwrap();
    compile_jdbc(&jar, classes.path());
    let classpath = std::env::join_paths([classes.path(), jar.as_path()]).expect("a classpath");
    run_client("pgjdbc", |port| {
        let mut java = Command::new("java");
        // A JVM zone other than the server's UTC: pgjdbc then sends times and timestamps with
        // an offset, which the server must read as Postgres does.
        java.arg("-Duser.timezone=Europe/Berlin").arg("-cp").arg(&classpath).arg("Jdbc").arg(port.to_string());
        java
    });
}

#[test]
fn psycopg() {
    let python = installed("SLUICE_PYTHON", "a Python with psycopg 3");
    run_client("psycopg", |port| {
        let mut command = Command::new(&python);
        command.arg(programs().join("psycopg_test.py")).arg(port.to_string());
        command
    });
}

#[test]
fn sqlalchemy_inspect() {
    let python = installed("SLUICE_PYTHON", "a Python with SQLAlchemy and psycopg 3");
    run_client("sqlalchemy", |port| {
        let mut command = Command::new(&python);
        command.arg(programs().join("sqlalchemy_test.py")).arg(port.to_string());
        command
    });
}

#[test]
fn node_postgres() {
    let modules = installed("SLUICE_NODE_MODULES", "node-postgres (npm pg)");
    run_client("node-postgres", |port| {
        let mut command = Command::new("node");
        command.arg(programs().join("node_test.js")).arg(port.to_string()).env("NODE_PATH", &modules);
        command
    });
}
