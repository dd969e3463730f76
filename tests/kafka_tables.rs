//! Changelog tables over Kafka topics, stream-table joins, the dead-letter topic and
//! `CREATE STREAM ... AS SELECT`, against a real Apache Kafka broker and the real
//! `sluice` binary, including kill -9 and restart.

mod common;

use std::collections::BTreeMap;

use common::kafka::{Broker, consume_all, consume_messages};
use common::{Server, query_rows};

/// A user's row as the table should hold it: id -> (name, city).
type Users = BTreeMap<i64, (String, String)>;

fn user_json(id: i64, city: &str) -> String {
    format!(r#"{{"id": {id}, "name": "u{id}", "city": "{city}"}}"#)
}

/// Sends upserts (`Some(city)`) and tombstones (`None`) keyed by id, and applies them to
/// `users`.
fn send_users(broker: &Broker, users: &mut Users, changes: &[(i64, Option<&str>)]) {
    let values: Vec<Option<String>> = changes.iter().map(|(id, city)| city.map(|c| user_json(*id, c))).collect();
    let keys: Vec<String> = changes.iter().map(|(id, _)| id.to_string()).collect();
    let msgs: Vec<(i32, Option<&str>, Option<&str>)> = (changes.iter().zip(&keys).zip(&values))
        .map(|(((id, _), k), v)| ((*id % 2) as i32, Some(k.as_str()), v.as_deref()))
        .collect();
    broker.producer().send_maybe("users", &msgs);
    for (id, city) in changes {
        match city {
            Some(c) => users.insert(*id, (format!("u{id}"), c.to_string())),
            None => users.remove(id),
        };
    }
}

/// Bids `(bidder, price)` for bidders 1..=60, `n` of them from `from`.
fn bids(from: i64, n: i64) -> Vec<(i64, i64)> {
    (from..from + n).map(|i| (i % 60 + 1, i % 97)).collect()
}

fn send_bids(broker: &Broker, bids: &[(i64, i64)]) {
    let values: Vec<String> = bids.iter().map(|(b, p)| format!(r#"{{"bidder": {b}, "price": {p}}}"#)).collect();
    let msgs: Vec<(i32, Option<&str>, &str)> =
        values.iter().enumerate().map(|(i, v)| ((i % 2) as i32, None, v.as_str())).collect();
    broker.producer().send("bids", &msgs);
}

/// city -> (bids, volume) as the LEFT JOIN view should hold it, each bid joined with the
/// users as they were when it was sent.
fn add_by_city(acc: &mut BTreeMap<String, (i64, i64)>, bids: &[(i64, i64)], users: &Users) {
    for (bidder, price) in bids {
        let city = users.get(bidder).map_or("(none)".to_string(), |u| u.1.clone());
        let e = acc.entry(city).or_insert((0, 0));
        e.0 += 1;
        e.1 += price;
    }
}

async fn table_rows(client: &tokio_postgres::Client) -> Users {
    query_rows(client, "SELECT id, name, city FROM users")
        .await
        .into_iter()
        .map(|r| (r[0].parse().unwrap(), (r[1].clone(), r[2].clone())))
        .collect()
}

async fn view_by_city(client: &tokio_postgres::Client) -> BTreeMap<String, (i64, i64)> {
    query_rows(client, "SELECT coalesce(city, '(none)'), bids, volume FROM by_city")
        .await
        .into_iter()
        .map(|r| (r[0].clone(), (r[1].parse().unwrap(), r[2].parse().unwrap())))
        .collect()
}

fn ddl(broker: &Broker) -> String {
    let servers = broker.servers();
    format!(
        "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT, city TEXT) \
           WITH (connector = 'kafka', topic = 'users', bootstrap_servers = '{servers}', format = 'json', \
                 dead_letter_topic = 'users_rejected'); \
         FLUSH; \
         CREATE STREAM bids (bidder BIGINT, price BIGINT) \
           WITH (connector = 'kafka', topic = 'bids', bootstrap_servers = '{servers}', format = 'json'); \
         CREATE MATERIALIZED VIEW by_city AS SELECT u.city, count(*) AS bids, sum(b.price) AS volume \
           FROM bids b LEFT JOIN users u ON b.bidder = u.id GROUP BY u.city; \
         CREATE MATERIALIZED VIEW enriched AS SELECT b.bidder, b.price, u.name FROM bids b JOIN users u ON b.bidder = u.id;"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_follow_their_topic_and_joins_see_the_table_as_of_each_row() {
    let broker = Broker::start();
    for topic in ["users", "bids", "users_rejected"] {
        broker.create_topic(topic, 2).await;
    }
    let mut users = Users::new();
    let first: Vec<(i64, Option<&str>)> =
        (1..=50).map(|id| (id, Some(["paris", "oslo", "lima"][id as usize % 3]))).collect();
    send_users(&broker, &mut users, &first);
    let moves: Vec<(i64, Option<&str>)> =
        (1..=10).map(|id| (id, Some("rome"))).chain((41..=50).map(|id| (id, None))).collect();
    send_users(&broker, &mut users, &moves);
    broker.producer().send("users", &[(0, Some("99"), "{not json")]);

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let client = server.client().await;
    client.batch_execute(&ddl(&broker)).await.unwrap();
    assert_eq!(table_rows(&client).await, users, "latest value per key, tombstones deleted");
    let tables = query_rows(&client, "SELECT rows, bad_rows FROM sluice_catalog.tables").await;
    assert_eq!(tables, vec![vec!["40", "1"]]);

    // The malformed message went to the dead-letter topic, with the reason in a header.
    let rejected = consume_messages(&broker.servers(), "users_rejected", false, 1);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!((rejected[0].key.as_deref(), rejected[0].value.as_deref()), (Some("99"), Some("{not json")));
    let header = |name: &str| rejected[0].headers.iter().find(|h| h.0 == name).map(|h| h.1.clone());
    assert!(header("sluice.error").is_some_and(|e| !e.is_empty()), "{rejected:?}");
    assert_eq!((header("sluice.topic").as_deref(), header("sluice.offset").is_some()), (Some("users"), true));

    let mut expected = BTreeMap::new();
    let batch = bids(0, 600);
    send_bids(&broker, &batch);
    add_by_city(&mut expected, &batch, &users);
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(view_by_city(&client).await, expected);

    // The table changes; later bids see the change, earlier ones keep what they were joined with.
    send_users(&broker, &mut users, &[(20, Some("kyiv")), (30, None), (55, Some("lima"))]);
    client.batch_execute("FLUSH").await.unwrap();
    let batch = bids(600, 600);
    send_bids(&broker, &batch);
    add_by_city(&mut expected, &batch, &users);
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(view_by_city(&client).await, expected);
    let joined: i64 = expected.iter().filter(|(c, _)| *c != "(none)").map(|(_, v)| v.0).sum();
    let enriched = query_rows(&client, "SELECT count(*), count(name) FROM enriched").await;
    assert_eq!(enriched, vec![vec![joined.to_string(), joined.to_string()]]);

    // kill -9 during ingestion: table and views come back exactly, and joins go on with the
    // restored table.
    let batch = bids(1200, 3000);
    send_bids(&broker, &batch);
    add_by_city(&mut expected, &batch, &users);
    server.kill9();
    let server = Server::start(dir.path());
    let client = server.client().await;
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(table_rows(&client).await, users);
    assert_eq!(view_by_city(&client).await, expected);
    let batch = bids(4200, 600);
    send_bids(&broker, &batch);
    add_by_city(&mut expected, &batch, &users);
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(view_by_city(&client).await, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_stream_as_select_writes_a_joined_query_to_kafka() {
    let broker = Broker::start();
    for topic in ["users", "bids", "users_rejected", "rich_bids"] {
        broker.create_topic(topic, 2).await;
    }
    let mut users = Users::new();
    let all: Vec<(i64, Option<&str>)> =
        (1..=60).map(|id| (id, Some(if id % 2 == 0 { "paris" } else { "oslo" }))).collect();
    send_users(&broker, &mut users, &all);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client().await;
    client.batch_execute(&ddl(&broker)).await.unwrap();
    let sql = format!(
        "CREATE STREAM rich_bids WITH (connector = 'kafka', topic = 'rich_bids', bootstrap_servers = '{}', \
           delivery = 'at-least-once', key = 'bidder') AS \
         SELECT b.bidder, b.price, u.city FROM bids b JOIN users u ON b.bidder = u.id WHERE b.price >= 50 EMIT CHANGES",
        broker.servers()
    );
    client.batch_execute(&sql).await.unwrap();
    let batch = bids(0, 1000);
    send_bids(&broker, &batch);
    client.batch_execute("FLUSH").await.unwrap();
    let want: Vec<(i64, i64)> = batch.iter().copied().filter(|(_, p)| *p >= 50).collect();
    let got = consume_all(&broker.servers(), "rich_bids", false, want.len());
    assert_eq!(got.len(), want.len());
    let mut got: Vec<(i64, i64, String)> = got
        .iter()
        .map(|(k, v)| {
            let v: serde_json::Value = serde_json::from_str(v.as_deref().unwrap()).unwrap();
            assert_eq!(k.as_deref(), Some(v["bidder"].to_string().as_str()));
            (v["bidder"].as_i64().unwrap(), v["price"].as_i64().unwrap(), v["city"].as_str().unwrap().to_string())
        })
        .collect();
    got.sort();
    let mut want: Vec<(i64, i64, String)> = want.iter().map(|(b, p)| (*b, *p, users[b].1.clone())).collect();
    want.sort();
    assert_eq!(got, want);

    let shown = query_rows(&client, "SHOW SINKS").await;
    assert_eq!((shown.len(), shown[0][0].as_str(), shown[0][1].as_str()), (1, "rich_bids", "bids"));
    let err = client.batch_execute("DROP TABLE users").await.unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "2BP01");
    client.batch_execute("DROP STREAM rich_bids").await.unwrap();
    assert!(query_rows(&client, "SHOW SINKS").await.is_empty());
    client.batch_execute("DROP TABLE users CASCADE").await.unwrap();
}
