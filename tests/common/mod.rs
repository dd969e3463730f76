//! Test support: start the real `sluice` binary on a free port and talk to it.
#![allow(dead_code)]

pub mod kafka;
pub mod postgres;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `sluice serve` process.
pub struct Server {
    pub port: u16,
    pub data_dir: PathBuf,
    child: Option<Child>,
}

/// The repository root (tests run the server from there so relative paths work).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads the server's log until its ready line and returns the port it names; the rest
/// of the log goes on to this process's stderr. None if the log ends first.
fn ready_port(log: impl std::io::Read + Send + 'static) -> Option<u16> {
    let mut lines = BufReader::new(log).lines();
    let port = loop {
        let line = lines.next()?.ok()?;
        eprintln!("{line}");
        if line.contains("sluice is ready for connections") {
            let address = line.split_whitespace().find_map(|w| w.strip_prefix("address="))?;
            break address.rsplit(':').next()?.parse().ok()?;
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("{line}");
        }
    });
    Some(port)
}

/// The file roots of a test server: the repository root (its test data) and the test's
/// temporary directory, the one directly under the system's that holds `data_dir`.
pub fn file_roots(data_dir: &Path) -> Vec<PathBuf> {
    let temp = std::env::temp_dir();
    let top = data_dir.ancestors().find(|a| a.parent() == Some(temp.as_path())).unwrap_or(data_dir);
    vec![repo_root(), top.to_path_buf()]
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

impl Server {
    /// Starts a server on `data_dir` with a short checkpoint interval.
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &["--checkpoint-interval-ms", "100"])
    }

    /// Starts a server with extra arguments and waits until it accepts connections. The
    /// server binds a port of its own choosing (`127.0.0.1:0`) and names it in its ready
    /// line, so parallel tests never race for a port.
    /// Unless `extra` names file roots, the server may use files in the repository and in
    /// the temporary directory holding `data_dir` (see [`file_roots`]).
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        let mut roots = Vec::new();
        if !extra.contains(&"--file-root") {
            for root in file_roots(data_dir) {
                roots.push("--file-root".into());
                roots.push(root.into_os_string());
            }
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(roots)
            .args(extra)
            .current_dir(repo_root())
            .env("RUST_LOG", "warn,sluice=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice");
        let log = child.stderr.take().expect("stderr");
        let port = ready_port(log).unwrap_or_else(|| {
            let status = child.wait().expect("wait for sluice");
            panic!("sluice exited ({status}) before it was ready")
        });
        Server { port, data_dir: data_dir.to_path_buf(), child: Some(child) }
    }

    /// A tokio-postgres connection string.
    pub fn conn_string(&self) -> String {
        format!("host=127.0.0.1 port={} user=sluice dbname=sluice", self.port)
    }

    /// Connects a client.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.conn_string(), tokio_postgres::NoTls).await.expect("connect to sluice");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// The server's process id (0 once it was stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the process with SIGKILL, like a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process with SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let status = child.wait().expect("wait for sluice");
            assert!(status.success(), "sluice exited with {status}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `sluice hash-password --user <user>` with `password` on standard input: a line of
/// the `--auth` file.
pub fn users_line(user: &str, password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["hash-password", "--user", user])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sluice hash-password");
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "hash-password failed");
    String::from_utf8(output.stdout).unwrap().trim_end().to_string()
}

/// Runs a simple query and returns every row as strings (NULL as "NULL").
pub async fn query_rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<String>> {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    messages
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_string()).collect())
            }
            _ => None,
        })
        .collect()
}

/// Polls `sql` until column `column` of its first row satisfies `done`, for up to two
/// minutes; then fails, showing the rows of `diagnostics`.
pub async fn wait_for(
    client: &tokio_postgres::Client,
    sql: &str,
    column: usize,
    done: impl Fn(&str) -> bool,
    diagnostics: &str,
) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let rows = query_rows(client, sql).await;
        let value = rows.first().and_then(|r| r.get(column)).cloned().unwrap_or_default();
        if done(&value) {
            return value;
        }
        if std::time::Instant::now() > deadline {
            let shown = query_rows(client, diagnostics).await;
            panic!("{sql}: still {value:?}; {diagnostics}: {shown:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
