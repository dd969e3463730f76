//! The Postgres protocol against the real engine with tokio-postgres: prepared statements
//! with parameters (extended protocol), over views and over streams (a query with `EMIT ON
//! WINDOW CLOSE` runs as a pipeline), errors with SQLSTATEs that leave the connection
//! usable, and many concurrent sessions.

mod common;

use common::{Server, query_rows};

const SETUP: &str = "
CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, date_time TIMESTAMP,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json');
CREATE MATERIALIZED VIEW per_auction AS
  SELECT auction, count(*) AS n, max(price) AS top, avg(price) AS mean, max(date_time) AS last_bid
  FROM bids GROUP BY auction;
FLUSH;
";

/// A server in a fresh data directory with the stream and view of `SETUP`, flushed.
async fn started() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.client().await.batch_execute(SETUP).await.unwrap();
    (dir, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_with_parameters() {
    let (_dir, server) = started().await;
    let client = server.client().await;

    // `mean` (an `avg` of bigints) is a numeric, which tokio-postgres reads only with a
    // decimal crate: read it as a float8.
    let sql = "SELECT auction, n, top, mean::float8 FROM per_auction WHERE top > $1 ORDER BY auction";
    let stmt = client.prepare(sql).await.unwrap();
    assert_eq!(stmt.params(), &[tokio_postgres::types::Type::INT8]);
    let rows = client.query(&stmt, &[&30i64]).await.unwrap();
    let got: Vec<(i64, i64, i64, f64)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!(got, vec![(1, 5, 60, 31.0), (2, 4, 70, 38.75)]);
    let rows = client.query(&stmt, &[&65i64]).await.unwrap();
    assert_eq!(rows.len(), 1);

    let row = client.query_one("SELECT last_bid FROM per_auction WHERE auction = $1", &[&2i64]).await.unwrap();
    let last: chrono::NaiveDateTime = row.get(0);
    assert_eq!(last.to_string(), "2026-03-01 10:00:21");

    // A parameter naming the setting (SQLAlchemy over psycopg sends current_setting so).
    client.batch_execute("SET application_name = 'pgwire test'").await.unwrap();
    let setting = client.prepare("SELECT current_setting($1::VARCHAR) AS v").await.unwrap();
    let value = |name: &'static str| {
        let (client, setting) = (&client, &setting);
        async move { client.query_one(setting, &[&name]).await.unwrap().get::<_, Option<String>>(0) }
    };
    assert_eq!(value("application_name").await.as_deref(), Some("pgwire test"));
    assert_eq!(value("server_version_num").await.as_deref(), Some("160006"));
    assert_eq!(value("no_such_setting").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_sqlstate_and_keep_the_connection() {
    let (_dir, server) = started().await;
    let client = server.client().await;
    let cases = [
        ("SELECT * FROM missing", "42P01"),
        ("SELEKT 1", "42601"),
        ("CREATE MATERIALIZED VIEW per_auction AS SELECT auction FROM bids", "42P07"),
        ("DROP STREAM bids", "2BP01"),
        ("INSERT INTO per_auction VALUES (1)", "0A000"),
        ("SELECT 1/0", "22012"),
    ];
    for (sql, code) in cases {
        let err = client.simple_query(sql).await.expect_err(sql);
        let db = err.as_db_error().unwrap_or_else(|| panic!("{sql}: not a server error: {err}"));
        assert_eq!(db.code().code(), code, "{sql}: {}", db.message());
        let err = client.query(sql, &[]).await.expect_err(sql);
        assert!(err.as_db_error().is_some(), "{sql} (extended): {err}");
        assert_eq!(query_rows(&client, "SELECT count(*) FROM per_auction").await, vec![vec!["2".to_string()]]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_sessions() {
    let (_dir, server) = started().await;
    let mut tasks = Vec::new();
    for i in 0..16i64 {
        let client = server.client().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let row = client.query_one("SELECT sum(n)::bigint + $1 FROM per_auction", &[&i]).await.unwrap();
                let total: i64 = row.get(0);
                assert_eq!(total, 9 + i);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_queries_over_streams_run_as_pipelines() {
    let (_dir, server) = started().await;
    let client = server.client().await;
    // A parameter inside the part of the query that runs as a pipeline, and a view's
    // trailing clause: only the windows the watermark (10:00:21) has closed, bids over $1.
    let sql = "SELECT window_start, count(*) AS n, sum(price)::BIGINT AS volume \
               FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND) WHERE price > $1 \
               GROUP BY window_start ORDER BY window_start EMIT ON WINDOW CLOSE";
    let stmt = client.prepare(sql).await.unwrap();
    assert_eq!(stmt.params(), &[tokio_postgres::types::Type::INT8]);
    let rows = client.query(&stmt, &[&20i64]).await.unwrap();
    let got: Vec<(String, i64, i64)> =
        rows.iter().map(|r| (r.get::<_, chrono::NaiveDateTime>(0).to_string(), r.get(1), r.get(2))).collect();
    assert_eq!(got, vec![("2026-03-01 10:00:00".into(), 3, 105), ("2026-03-01 10:00:10".into(), 2, 100)]);

    // Session statements through the extended protocol: no columns, their command tag.
    assert_eq!(client.execute("SET application_name = 'prepared'", &[]).await.unwrap(), 0);
    let name = client.query_one("SHOW application_name", &[]).await.unwrap();
    assert_eq!(name.get::<_, String>(0), "prepared");
}
