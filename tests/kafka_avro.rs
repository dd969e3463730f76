//! Avro values in the Confluent wire format, with writer schemas served by a schema
//! registry (a minimal HTTP one in this test), read from a real Apache Kafka broker by the
//! real `sluice` binary.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow_avro::schema::{AvroSchema, FingerprintStrategy};
use arrow_avro::writer::WriterBuilder;
use arrow_avro::writer::format::AvroSoeFormat;
use common::kafka::Broker;
use common::{Server, query_rows};

/// Serves `GET /schemas/ids/{id}` from `schemas` (404 for others) and `GET /subjects`;
/// returns the registry's URL.
fn registry(schemas: BTreeMap<u32, String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut request = String::new();
            let mut reader = BufReader::new(&stream);
            let _ = reader.read_line(&mut request);
            let path = request.split_whitespace().nth(1).unwrap_or_default().to_string();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let id = path.strip_prefix("/schemas/ids/").and_then(|id| id.parse::<u32>().ok());
            let (status, body) = match (path.as_str(), id.and_then(|id| schemas.get(&id))) {
                ("/subjects", _) => ("200 OK", "[]".to_string()),
                (_, Some(schema)) => ("200 OK", serde_json::json!({ "schema": schema }).to_string()),
                _ => ("404 Not Found", r#"{"error_code":40403,"message":"Schema not found"}"#.to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = (&stream).write_all(response.as_bytes());
        }
    });
    url
}

/// Bids `from..from + n` as a batch, with a `channel` column when `channel`.
fn bids(from: i64, n: i64, channel: bool) -> RecordBatch {
    let ids: Vec<i64> = (from..from + n).collect();
    let mut fields = vec![
        Field::new("auction", DataType::Int64, false),
        Field::new("price", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())), false),
    ];
    let ts = TimestampMillisecondArray::from(ids.iter().map(|i| 1_700_000_000_000 + i * 10).collect::<Vec<_>>());
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.iter().map(|i| i % 13).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(ids.iter().map(|i| i % 100).collect::<Vec<_>>())),
        Arc::new(ts.with_timezone("+00:00")),
    ];
    if channel {
        fields.insert(0, Field::new("channel", DataType::Utf8, false));
        columns.insert(0, Arc::new(StringArray::from(vec!["web"; n as usize])));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// Each row of `batch` as a Confluent-framed value with schema `id`, and the writer schema.
fn encode(batch: &RecordBatch, id: u32) -> (Vec<Vec<u8>>, String) {
    let schema = batch.schema().as_ref().clone();
    let avro = AvroSchema::try_from(&schema).unwrap().json_string;
    let mut encoder = WriterBuilder::new(schema)
        .with_fingerprint_strategy(FingerprintStrategy::Id(id))
        .build_encoder::<AvroSoeFormat>()
        .unwrap();
    encoder.encode(batch).unwrap();
    (encoder.flush().iter().map(|r| r.to_vec()).collect(), avro)
}

fn totals(batches: &[&RecordBatch]) -> BTreeMap<i64, (i64, i64)> {
    let mut out = BTreeMap::new();
    for b in batches {
        let col = |name: &str| {
            b.column(b.schema().index_of(name).unwrap()).as_any().downcast_ref::<Int64Array>().unwrap().clone()
        };
        let (auctions, prices) = (col("auction"), col("price"));
        for i in 0..b.num_rows() {
            let e = out.entry(auctions.value(i)).or_insert((0, 0));
            e.0 += 1;
            e.1 += prices.value(i);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn avro_values_with_a_schema_registry() {
    let broker = Broker::start();
    broker.create_topic("bids", 2).await;
    let (v1, v2) = (bids(0, 1000, false), bids(1000, 500, true));
    let (values1, schema1) = encode(&v1, 1);
    let (values2, schema2) = encode(&v2, 2);
    let url = registry(BTreeMap::from([(1, schema1), (2, schema2)]));
    let mut values = values1;
    values.push(b"{\"auction\": 1}".to_vec());
    values.push([&[0u8, 0, 0, 0, 99][..], &values2[0][5..]].concat());
    values.extend(values2);
    let messages: Vec<(i32, &[u8])> = values.iter().enumerate().map(|(i, v)| ((i % 2) as i32, v.as_slice())).collect();
    broker.producer().send_bytes("bids", &messages);

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client().await;
    let servers = broker.servers();
    let stream = |registry: &str| {
        format!(
            "CREATE STREAM bids (auction BIGINT, price BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) \
             WITH (connector = 'kafka', topic = 'bids', bootstrap_servers = '{servers}', format = 'avro'{registry})"
        )
    };
    let err = client.batch_execute(&stream("")).await.unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "22023", "{err}");
    let nowhere = format!(", schema_registry = 'http://127.0.0.1:{}'", common::free_port());
    let err = client.batch_execute(&stream(&nowhere)).await.unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "08001", "{err}");

    client.batch_execute(&stream(&format!(", schema_registry = '{url}'"))).await.unwrap();
    client
        .batch_execute(
            "CREATE MATERIALIZED VIEW totals AS SELECT auction, count(*) AS n, sum(price) AS total FROM bids GROUP BY auction; \
             CREATE MATERIALIZED VIEW last AS SELECT max(ts) AS ts FROM bids; FLUSH;",
        )
        .await
        .unwrap();
    let got: BTreeMap<i64, (i64, i64)> = query_rows(&client, "SELECT auction, n, total FROM totals")
        .await
        .into_iter()
        .map(|r| (r[0].parse().unwrap(), (r[1].parse().unwrap(), r[2].parse().unwrap())))
        .collect();
    assert_eq!(got, totals(&[&v1, &v2]));
    let last = query_rows(&client, "SELECT CAST(ts AS TEXT) FROM last").await;
    assert_eq!(last, vec![vec!["2023-11-14T22:13:34.990".to_string()]], "timestamps keep their instant");
    let errors =
        query_rows(&client, "SELECT reason FROM sluice_catalog.source_errors WHERE view = 'totals' ORDER BY reason")
            .await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0][0].contains("schema 99 is not in the schema registry"), "{errors:?}");
    assert!(errors[1][0].contains("wire format"), "{errors:?}");
}
