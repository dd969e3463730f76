//! Test support for Kafka: a real Apache Kafka broker (a single-node KRaft cluster, broker
//! and controller in one JVM) on free loopback ports, in a log directory of its own, and a
//! producer to feed it.
//!
//! The broker's jars are found in `$SLUICE_KAFKA_LIBS`, then in
//! `~/.cache/sluice/kafka/<KAFKA_VERSION>/libs`, where `scripts/test` copies them from Maven
//! Central with `tests/kafka/pom.xml`. Missing jars fail the test with instructions: Kafka
//! tests never pass silently without a broker.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::free_port;

/// The Kafka version of `tests/kafka/pom.xml` (and of `docker-compose.yml`).
pub const KAFKA_VERSION: &str = "4.1.1";

/// How long the outage tests keep a stopped or killed broker down.
pub const OUTAGE: Duration = Duration::from_secs(10);

/// The cluster id the log directory is formatted with (any 16 bytes, base64url).
const CLUSTER_ID: &str = "c2x1aWNlLXRlc3RzLTAwMQ";

/// A running broker; killed on drop, its log directory removed with it.
pub struct Broker {
    /// The port clients connect to.
    pub port: u16,
    /// The controller's port.
    controller: u16,
    /// Holds `server.properties`, the log directory and `broker.log`.
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// When the broker was last stopped or killed.
    stopped: Option<Instant>,
}

/// The directory of the broker's jars.
fn kafka_libs() -> PathBuf {
    if let Ok(path) = std::env::var("SLUICE_KAFKA_LIBS") {
        return PathBuf::from(path);
    }
    let home = PathBuf::from(std::env::var("HOME").unwrap_or_default());
    let cached = home.join(".cache/sluice/kafka").join(KAFKA_VERSION).join("libs");
    assert!(
        cached.join(format!("kafka_2.13-{KAFKA_VERSION}.jar")).exists(),
        "the Kafka tests need Apache Kafka's jars in {}: run scripts/test, which copies them there, or \
         `mvn -f tests/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory={}`",
        cached.display(),
        cached.display()
    );
    cached
}

/// `java` with the broker's jars on the class path and logging configured by `log4j`,
/// running `main`.
fn java(log4j: &Path, main: &str) -> Command {
    let mut command = Command::new("java");
    command.args(["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"]);
    command.arg(format!("-Dlog4j2.configurationFile={}", log4j.display()));
    command.arg("-cp").arg(format!("{}/*", kafka_libs().display())).arg(main);
    command
}

impl Broker {
    /// Formats a new log directory and starts a broker on it; returns once it accepts
    /// connections.
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("broker directory");
        let mut broker = Broker { port: free_port(), controller: free_port(), dir, child: None, stopped: None };
        std::fs::write(broker.dir.path().join("server.properties"), broker.properties()).expect("server.properties");
        std::fs::write(broker.dir.path().join("log4j2.properties"), LOG4J).expect("log4j2.properties");
        let formatted = java(&broker.dir.path().join("log4j2.properties"), "kafka.tools.StorageTool")
            .args(["format", "--ignore-formatted", "-t", CLUSTER_ID, "-c"])
            .arg(broker.dir.path().join("server.properties"))
            .stdin(Stdio::null())
            .output()
            .expect("run kafka.tools.StorageTool (is java on PATH?)");
        assert!(formatted.status.success(), "format the log directory: {}", String::from_utf8_lossy(&formatted.stderr));
        broker.launch();
        broker
    }

    fn properties(&self) -> String {
        let (port, controller, logs) = (self.port, self.controller, self.dir.path().join("logs"));
        format!(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.voters=1@127.0.0.1:{controller}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
             controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             log.dirs={}\nnum.partitions=1\n\
             offsets.topic.replication.factor=1\noffsets.topic.num.partitions=4\n\
             transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
             transaction.state.log.num.partitions=4\ngroup.initial.rebalance.delay.ms=0\n\
             share.coordinator.state.topic.replication.factor=1\nshare.coordinator.state.topic.min.isr=1\n",
            logs.display()
        )
    }

    /// Starts the broker process on the formatted log directory and waits until it accepts
    /// connections.
    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.log"))
            .expect("broker.log");
        let child = java(&self.dir.path().join("log4j2.properties"), "kafka.Kafka")
            .arg(self.dir.path().join("server.properties"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("broker.log"))
            .stderr(log)
            .spawn()
            .expect("start kafka.Kafka (is java on PATH?)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("the Kafka broker exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "the Kafka broker did not listen on {} within 60 s", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The broker's own log (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    /// Stops the broker process with SIGTERM (a clean shutdown) and waits for it: an outage
    /// that keeps the broker's data. [`Broker::restore`] starts it again.
    pub fn cut(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.stopped = Some(Instant::now());
            signal(&child, "TERM");
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Kills the broker process with SIGKILL: a crash; its log directory stays, and
    /// [`Broker::restore`] starts it again on it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.stopped = Some(Instant::now());
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a stopped or killed broker again, on the same ports and log directory.
    pub fn restore(&mut self) {
        if self.child.is_none() {
            self.launch();
        }
    }

    /// Like [`Broker::restore`], once the broker has been down for at least `outage`.
    pub fn restore_after(&mut self, outage: Duration) {
        if let Some(stopped) = self.stopped {
            std::thread::sleep(outage.saturating_sub(stopped.elapsed()));
        }
        self.restore();
    }

    /// `host:port` for `bootstrap_servers`.
    pub fn servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a topic with `partitions` partitions.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        self.create(NewTopic::new(name, partitions, TopicReplication::Fixed(1))).await;
    }

    /// Creates a compacted topic (`cleanup.policy=compact`) with `partitions` partitions.
    pub async fn create_compacted_topic(&self, name: &str, partitions: i32) {
        self.create(NewTopic::new(name, partitions, TopicReplication::Fixed(1)).set("cleanup.policy", "compact")).await;
    }

    async fn create(&self, topic: NewTopic<'_>) {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", self.servers()).create().expect("admin client");
        let results = admin.create_topics([&topic], &AdminOptions::new()).await.expect("create topics");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
        }
    }

    /// Commits `offsets` (partition, next offset) of `topic` for consumer group `group`, as
    /// an operator resetting the group with `kafka-consumer-groups --reset-offsets` would.
    pub fn commit_group_offsets(&self, group: &str, topic: &str, offsets: &[(i32, i64)]) {
        let consumer = self.group_consumer(group);
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset)).unwrap();
        }
        consumer.commit(&tpl, CommitMode::Sync).expect("commit group offsets");
    }

    /// The offsets consumer group `group` has committed for `partitions` of `topic`
    /// (`None` where it has none).
    pub fn group_offsets(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let consumer = self.group_consumer(group);
        let mut tpl = TopicPartitionList::new();
        for partition in 0..partitions {
            tpl.add_partition(topic, partition);
        }
        let committed = consumer.committed_offsets(tpl, Duration::from_secs(30)).expect("committed offsets");
        committed.elements().iter().map(|e| e.offset().to_raw()).map(|o| o.filter(|&o| o >= 0)).collect()
    }

    /// The next offset of each of `partitions` partitions of `topic` (its high watermark).
    pub fn end_offsets(&self, topic: &str, partitions: i32) -> Vec<(i32, i64)> {
        let consumer = self.group_consumer("sluice-tests");
        (0..partitions)
            .map(|p| (p, consumer.fetch_watermarks(topic, p, Duration::from_secs(30)).expect("watermarks").1))
            .collect()
    }

    /// The names of the topics the broker has.
    pub fn topics(&self) -> Vec<String> {
        let consumer = self.group_consumer("sluice-tests");
        let metadata = consumer.fetch_metadata(None, Duration::from_secs(30)).expect("metadata");
        metadata.topics().iter().map(|t| t.name().to_string()).collect()
    }

    fn group_consumer(&self, group: &str) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", self.servers())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer")
    }

    /// A producer that sends synchronously enough for tests (flush after each call).
    pub fn producer(&self) -> TestProducer {
        let producer = ClientConfig::new().set("bootstrap.servers", self.servers()).create().expect("producer");
        TestProducer { producer }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `signal` (`TERM`, `KILL`) to `child`.
fn signal(child: &Child, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
}

/// The broker's logging: warnings and errors to its standard output (`broker.log`).
const LOG4J: &str = "status = error
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.out.ref = out
";

/// Produces test messages.
pub struct TestProducer {
    producer: ThreadedProducer<DefaultProducerContext>,
}

impl TestProducer {
    /// Waits until every enqueued message is acked. A flush that times out on a loaded
    /// machine loses nothing, so it is retried up to a generous bound.
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

/// Every message of `topic` (all partitions) as (key, value) text: reads every partition to
/// its end (its high watermark; for `read_committed`, its last stable offset, aborted
/// transactions skipped), and on until at least `expected` messages arrived.
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
        .set("enable.partition.eof", "true")
        .set("isolation.level", if read_committed { "read_committed" } else { "read_uncommitted" })
        .create()
        .expect("consumer");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    let partitions = tpl.count();
    consumer.assign(&tpl).expect("assign");
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    let mut out = Vec::new();
    let mut at_end = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && (at_end.len() < partitions || out.len() < expected) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                let headers = m.headers().map_or(Vec::new(), |h| {
                    h.iter().map(|h| (h.key.to_string(), text(h.value).unwrap_or_default())).collect()
                });
                out.push(Consumed { key: text(m.key()), value: text(m.payload()), headers });
            }
        }
    }
    out
}
