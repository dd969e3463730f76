//! A short psql session against the real server: DDL, a windowed view, a query, an error
//! that does not end the session, and SHOW.

mod common;

use std::process::Command;

/// psql connected to `server` (no ~/.psqlrc), run from the repository root.
fn psql(server: &common::Server) -> Command {
    let mut psql = Command::new("psql");
    psql.args(["-X", "-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", "sluice", "-d", "sluice"])
        .env("PGCONNECT_TIMEOUT", "10")
        .current_dir(common::repo_root());
    psql
}

#[test]
fn psql_session() {
    if Command::new("psql").arg("--version").output().is_err() {
        panic!("psql is not installed; scripts/test installs postgresql-client");
    }
    let dir = tempfile::tempdir().unwrap();
    let server = common::Server::start(dir.path());
    let script = dir.path().join("session.sql");
    std::fs::write(
        &script,
        "CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, date_time TIMESTAMP,
           WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
           WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json');
         CREATE MATERIALIZED VIEW stats AS
           SELECT auction, window_end, count(*) AS bids FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND)
           GROUP BY auction, window_end;
         FLUSH;
         SELECT auction, bids FROM stats WHERE window_end = TIMESTAMP '2026-03-01 10:00:10' ORDER BY auction;
         SELECT * FROM no_such_view;
         SELECT count(*) AS views FROM sluice_catalog.views;
         SHOW STREAMS;
        ",
    )
    .unwrap();
    let output = psql(&server).args(["-v", "ON_ERROR_STOP=0", "-f"]).arg(&script).output().expect("run psql");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "psql failed: {stderr}");
    assert!(stdout.contains("CREATE STREAM"), "{stdout}");
    assert!(stdout.contains("CREATE MATERIALIZED VIEW"), "{stdout}");
    let expected_rows = " auction | bids \n---------+------\n       1 |    3\n       2 |    2\n(2 rows)";
    assert!(stdout.contains(expected_rows), "unexpected query output:\n{stdout}");
    assert!(stderr.contains("no_such_view"), "missing error: {stderr}");
    assert!(stdout.contains(" views \n-------\n     1\n(1 row)"), "session did not go on after the error:\n{stdout}");
    assert!(stdout.contains("bids | file"), "SHOW STREAMS output:\n{stdout}");
}

/// psql's catalog commands (`\d` and friends), `\timing`, `COPY ... TO STDOUT` and `\copy`.
#[test]
fn psql_catalog_commands_and_copy() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::Server::start(dir.path());
    let csv = dir.path().join("stats.csv");
    let script = dir.path().join("describe.sql");
    std::fs::write(
        &script,
        format!(
            "CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, date_time TIMESTAMP,
               WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
               WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json');
             CREATE MATERIALIZED VIEW stats AS
               SELECT auction, window_end, count(*) AS bids FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND)
               GROUP BY auction, window_end;
             FLUSH;
             \\dt
             \\dm
             \\dv
             \\d
             \\d stats
             \\d+ stats
             \\dn
             \\l
             \\du
             \\df
             \\timing on
             COPY (SELECT auction, bids FROM stats WHERE window_end = TIMESTAMP '2026-03-01 10:00:10' ORDER BY auction) TO STDOUT;
             \\copy (SELECT auction, bids FROM stats WHERE window_end = TIMESTAMP '2026-03-01 10:00:10' ORDER BY auction) TO '{}' WITH CSV HEADER
             SET application_name = 'psql-test';
             SHOW application_name;
            ",
            csv.display()
        ),
    )
    .unwrap();
    let output = psql(&server).args(["-v", "ON_ERROR_STOP=1", "-f"]).arg(&script).output().expect("run psql");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "psql failed: {stderr}\n{stdout}");
    for expected in [
        " public | bids | table | sluice",
        " public | stats | materialized view | sluice",
        "Materialized view \"public.stats\"",
        " window_end | timestamp without time zone |",
        "View definition:",
        " public         | sluice",
        " sluice    | Superuser",
        "List of functions",
        "1\t3\n2\t2\n",
        "COPY 2",
        "Time: ",
        " psql-test",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "auction,bids\n1,3\n2,2\n");
}

/// psql's tab completion, typed into psql on a pseudo-terminal (util-linux `script`):
/// relation names complete from `pg_class`, parameter names from `pg_settings`, and the
/// completion queries do not fail.
#[test]
fn psql_tab_completion() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::Server::start(dir.path());
    let port = server.port.to_string();
    let setup = psql(&server)
        .args([
            "-c",
            "CREATE STREAM bids (auction BIGINT, price BIGINT, date_time TIMESTAMP) \
                      WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json')",
        ])
        .args([
            "-c",
            "CREATE MATERIALIZED VIEW auction_stats AS SELECT auction, count(*) AS n FROM bids GROUP BY auction",
        ])
        .output()
        .expect("run psql");
    assert!(setup.status.success(), "setup failed: {}", String::from_utf8_lossy(&setup.stderr));

    let psql = format!("psql -X -P pager=off -h 127.0.0.1 -p {port} -U sluice sluice");
    let mut terminal = Command::new("script")
        .args(["-qfec", &psql, "/dev/null"])
        .env("TERM", "dumb")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run psql under script (util-linux)");
    let mut keys = terminal.stdin.take().expect("stdin");
    // Each line is typed after the previous one was answered; TAB asks psql to complete.
    for line in [
        "SELECT count(*) AS views FROM auction_s\t;\n",
        "\\d bi\t\n",
        "SET applicat\t TO 'tab test';\n",
        "SHOW application_name;\n",
        "\\q\n",
    ] {
        std::io::Write::write_all(&mut keys, line.as_bytes()).expect("type into psql");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    drop(keys);
    let output = terminal.wait_with_output().expect("psql ends");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "psql failed:\n{screen}");
    assert!(screen.contains("FROM auction_stats ;"), "table name not completed:\n{screen}");
    assert!(screen.contains(" views ") && screen.contains("(1 row)"), "the completed query gave no row:\n{screen}");
    assert!(screen.contains("Table \"public.bids\""), "\\d name not completed:\n{screen}");
    assert!(screen.contains("SET application_name "), "parameter name not completed:\n{screen}");
    assert!(screen.contains("tab test"), "SET after completion did not apply:\n{screen}");
    assert!(!screen.contains("ERROR"), "a statement failed:\n{screen}");
}
