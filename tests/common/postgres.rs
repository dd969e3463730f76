//! A real PostgreSQL server for tests that compare Sluice with it: Debian's server binaries
//! (`scripts/test` installs them), a fresh cluster made by `initdb` in a temporary directory,
//! on a free loopback port, run as an ordinary user (`postgres` when the tests run as root,
//! since PostgreSQL refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running PostgreSQL server with its own cluster; stopped and removed when dropped.
pub struct Postgres {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

/// The newest installed PostgreSQL server's binaries directory.
fn server_binaries() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    found.sort_by_key(|bin| bin.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    found.pop().expect("no PostgreSQL server under /usr/lib/postgresql: scripts/test installs Debian's postgresql")
}

/// Runs as `postgres` when we are root; otherwise as ourselves.
fn command(program: &Path, owner: Option<&str>) -> Command {
    match owner {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// Gives the directory to `user` (by name).
fn chown(path: &Path, user: &str) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, user]).output().expect("run id");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a numeric id")
    };
    std::os::unix::fs::chown(path, Some(id("-u")), Some(id("-g"))).expect("chown the cluster directory");
}

impl Postgres {
    /// Makes a cluster (user `postgres`, trust authentication, UTC, UTF-8) and starts it.
    pub fn start() -> Postgres {
        let bin = server_binaries();
        let dir = tempfile::tempdir().expect("temporary directory");
        let owner = (effective_uid() == 0).then_some("postgres");
        if let Some(user) = owner {
            chown(dir.path(), user);
        }
        let data = dir.path().join("data");
        let status = command(&bin.join("initdb"), owner)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
            .stdout(Stdio::null())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed: {status}");
        let port = super::free_port();
        let child = command(&bin.join("postgres"), owner)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(dir.path())
            .args(["-c", "fsync=off", "-c", "TimeZone=UTC", "-c", "log_min_messages=fatal"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let server = Postgres { port, child, _dir: dir };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "postgres did not listen on port {} within 60 s", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Connects a client; retries while the server finishes starting.
    pub async fn client(&self) -> tokio_postgres::Client {
        let conn = format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match tokio_postgres::connect(&conn, tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    return client;
                }
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(e) => panic!("connect to postgres: {e}"),
            }
        }
    }
}

/// The effective user id, read from /proc (no libc dependency in the tests).
fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("Uid: 0 0");
    uid_line.split_whitespace().nth(2).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGTERM through runuser reaches postgres (runuser forwards it); SIGKILL would
        // leave the postmaster's children behind.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
