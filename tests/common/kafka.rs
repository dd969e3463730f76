//! Test support for Kafka: a real Kafka-protocol broker (`tansu`, in memory) on a free
//! loopback port, and a producer to feed it.
//!
//! The broker binary is found in `$SLUICE_TANSU`, then in `~/.cache/sluice/tansu/bin`
//! (where `scripts/test` installs it), then on `PATH`. A missing binary fails the test with
//! instructions: Kafka tests never pass silently without a broker.
#![allow(dead_code)]

use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::free_port;

/// A running broker; killed on drop.
pub struct Broker {
    pub port: u16,
    child: Option<Child>,
    proxy: Option<Proxy>,
}

fn tansu_binary() -> PathBuf {
    if let Ok(path) = std::env::var("SLUICE_TANSU") {
        return PathBuf::from(path);
    }
    let cached = PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/sluice/tansu/bin/tansu");
    if cached.exists() {
        return cached;
    }
    let on_path = Command::new("sh").args(["-c", "command -v tansu"]).output().ok().filter(|o| o.status.success());
    match on_path {
        Some(o) => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        None => panic!(
            "the Kafka tests need the tansu broker: run scripts/test, which installs it, or \
             `cargo install tansu --locked --features dynostore,libsql --root ~/.cache/sluice/tansu`"
        ),
    }
}

impl Broker {
    /// Starts a broker with in-memory storage and waits until it accepts connections.
    pub fn start() -> Broker {
        let port = free_port();
        Broker::start_on(port, port)
    }

    /// Starts a broker that clients reach through a proxy on [`Broker::port`], which
    /// [`Broker::cut`] and [`Broker::restore`] take down and bring back: a broker outage as
    /// clients see it, without losing the broker's in-memory data.
    pub fn start_proxied() -> Broker {
        let (port, inner) = (free_port(), free_port());
        let mut broker = Broker::start_on(inner, port);
        broker.proxy = Some(Proxy::start(port, inner));
        broker
    }

    fn start_on(port: u16, advertised: u16) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu_binary())
            .args(["broker", "--storage-engine", "memory://tansu/", "--listener-url", &url])
            .args(["--advertised-listener-url", &format!("tcp://127.0.0.1:{advertised}")])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start tansu");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start listening on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { port: advertised, child: Some(child), proxy: None }
    }

    /// Proxied brokers: drops every client connection and refuses new ones.
    pub fn cut(&mut self) {
        if let Some(proxy) = self.proxy.as_mut() {
            proxy.stop();
        }
    }

    /// Proxied brokers: accepts connections again.
    pub fn restore(&mut self) {
        if let Some(proxy) = self.proxy.as_mut() {
            *proxy = Proxy::start(proxy.port, proxy.target);
        }
    }

    /// `host:port` for `bootstrap_servers`.
    pub fn servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a topic with `partitions` partitions.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", self.servers()).create().expect("admin client");
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = admin.create_topics([&topic], &AdminOptions::new()).await.expect("create topics");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
        }
    }

    /// A producer that sends synchronously enough for tests (flush after each call).
    pub fn producer(&self) -> TestProducer {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", self.servers())
            // One message per batch: tansu 0.6 reports high watermarks short by a batch,
            // and the source's FLUSH catches up with the high watermark.
            .set("batch.num.messages", "1")
            .create()
            .expect("producer");
        TestProducer { producer }
    }

    /// Kills the broker (its in-memory data is lost).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.cut();
        self.kill();
    }
}

/// A TCP forwarder from `port` to `target` on loopback.
struct Proxy {
    port: u16,
    target: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(port: u16, target: u16) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind proxy port");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (flag, conns) = (stop.clone(), connections.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => forward(client, target, &conns),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Proxy { port, target, stop, connections, thread: Some(thread) }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for c in self.connections.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// Pumps bytes both ways between `client` and a new connection to `target`.
fn forward(client: TcpStream, target: u16, conns: &Arc<Mutex<Vec<TcpStream>>>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { return };
    let _ = client.set_nonblocking(false);
    let pairs = [(client.try_clone(), server.try_clone()), (server.try_clone(), client.try_clone())];
    {
        let mut list = conns.lock().unwrap();
        list.extend(client.try_clone());
        list.extend(server.try_clone());
    }
    for (from, to) in pairs {
        if let (Ok(mut from), Ok(mut to)) = (from, to) {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Both);
            });
        }
    }
}

/// Produces test messages.
pub struct TestProducer {
    producer: ThreadedProducer<DefaultProducerContext>,
}

impl TestProducer {
    /// Waits until every enqueued message is acked. With one message per batch, tansu on a
    /// loaded 2-core machine has needed more than 30 s for 4,000 messages; a flush that times
    /// out loses nothing, so it is retried up to a generous bound.
    fn flush(&self) {
        let mut last = None;
        for _ in 0..6 {
            match self.producer.flush(Duration::from_secs(30)) {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
        }
        panic!("flush producer: {last:?} ({} messages still queued)", self.producer.in_flight_count());
    }

    /// Sends `(partition, key, value)` messages to `topic` and waits until all are acked.
    pub fn send(&self, topic: &str, messages: &[(i32, Option<&str>, &str)]) {
        let messages: Vec<_> = messages.iter().map(|(p, k, v)| (*p, *k, Some(*v))).collect();
        self.send_maybe(topic, &messages);
    }

    /// Sends binary values `(partition, value)` to `topic` and waits until all are acked.
    pub fn send_bytes(&self, topic: &str, messages: &[(i32, &[u8])]) {
        for (partition, value) in messages {
            let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).partition(*partition).payload(*value);
            self.producer.send(record).map_err(|(e, _)| e).expect("enqueue message");
        }
        self.flush();
    }

    /// Like [`TestProducer::send`]; a `None` value is a tombstone.
    pub fn send_maybe(&self, topic: &str, messages: &[(i32, Option<&str>, Option<&str>)]) {
        for (partition, key, value) in messages {
            let mut record: BaseRecord<'_, str, str> = BaseRecord::to(topic).partition(*partition);
            if let Some(v) = value {
                record = record.payload(*v);
            }
            if let Some(k) = key {
                record = record.key(*k);
            }
            self.producer.send(record).map_err(|(e, _)| e).expect("enqueue message");
        }
        self.flush();
    }
}

/// Every message of `topic` (all partitions) as (key, value) text: reads until at least
/// `expected` messages arrived and then nothing more for a second (so repeats would show).
/// End offsets are not used: tansu 0.6 reports high watermarks short by up to a batch.
/// `read_committed` skips aborted transactions.
pub fn consume_all(
    servers: &str,
    topic: &str,
    read_committed: bool,
    expected: usize,
) -> Vec<(Option<String>, Option<String>)> {
    consume_messages(servers, topic, read_committed, expected).into_iter().map(|m| (m.key, m.value)).collect()
}

/// A consumed message as text.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Key.
    pub key: Option<String>,
    /// Value.
    pub value: Option<String>,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
}

/// Like [`consume_all`], with headers.
pub fn consume_messages(servers: &str, topic: &str, read_committed: bool, expected: usize) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "sluice-tests")
        .set("enable.auto.commit", "false")
        .set("isolation.level", if read_committed { "read_committed" } else { "read_uncommitted" })
        .create()
        .expect("consumer");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Instant::now();
    while Instant::now() < deadline && (out.len() < expected || last.elapsed() < Duration::from_secs(1)) {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            let headers = m.headers().map_or(Vec::new(), |h| {
                h.iter().map(|h| (h.key.to_string(), text(h.value).unwrap_or_default())).collect()
            });
            out.push(Consumed { key: text(m.key()), value: text(m.payload()), headers });
            last = Instant::now();
        }
    }
    out
}
