//! What makes several `sluice serve` processes one Sluice: the Kafka topics they share.
//!
//! Nodes started with the same `--cluster` brokers and `--cluster-name` find each other
//! through two internal topics of one partition each, both compacted:
//!
//! ```text
//!   _sluice-<name>-catalog   every DDL statement, in the order every node applies it
//!                            (key: a unique command id; value: the node and the SQL)
//!   _sluice-<name>-nodes     each node's heartbeat (key: node id; value: address, start,
//!                            what it runs), which `SHOW CLUSTER` lists
//! ```
//!
//! Each view and sink has a third, its changelog, and the nodes share them through a
//! consumer group:
//!
//! ```text
//!   _sluice-<name>-changelog-<id>  the committed checkpoints of view or sink <id> (key: a
//!                                  store key; value: its bytes), written by the one node
//!                                  that runs it and applied by every node to its store
//!   group sluice-<name>-views      gives each changelog to one node, which runs its pipeline
//! ```
//!
//! There is no coordinator of Sluice's own: the order of the catalog topic is the order of
//! DDL, and a node that starts later replays it; Kafka's group decides who runs what.
//! [`log::Log`] is the ordered topic, [`nodes::Nodes`] the membership,
//! [`owners::Owners`] the view group, [`changelog`] the checkpoints of the view a node
//! runs and [`replica::Replica`] this node's copy of every view. The engine
//! (`engine/cluster.rs`) submits statements to the log, applies what it reads, and starts
//! and stops pipelines as the group says.

pub(crate) mod changelog;
pub(crate) mod log;
pub(crate) mod nodes;
pub(crate) mod owners;
pub(crate) mod replica;

use std::time::{SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;

use crate::error::{Error, Result};
use crate::state::{Store, space};

/// How a node joins its cluster (`sluice serve --cluster ...`).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Kafka bootstrap servers, `host:port[,host:port...]`.
    pub servers: String,
    /// The cluster's name: nodes with the same name form one Sluice.
    pub name: String,
    /// Replication factor of the internal topics; -1 for the broker's default.
    pub replication_factor: i32,
    /// Extra librdkafka properties for every client (security settings, ...).
    pub properties: Vec<(String, String)>,
    /// The address clients reach this node at, shown by `SHOW CLUSTER`.
    pub address: String,
}

impl ClusterConfig {
    /// Parses `--cluster kafka://host:port[,host:port]`.
    pub fn servers_from_url(url: &str) -> Result<String> {
        let servers = url.strip_prefix("kafka://").ok_or_else(|| {
            Error::Config(format!("--cluster \"{url}\" must be a kafka:// URL, such as kafka://broker:9092"))
        })?;
        if servers.is_empty() || servers.split(',').any(|s| s.trim().is_empty()) {
            return Err(Error::Config(format!("--cluster \"{url}\" names no broker")));
        }
        Ok(servers.to_string())
    }

    /// Checks the cluster name: it becomes part of topic names.
    pub fn check_name(name: &str) -> Result<()> {
        let valid = !name.is_empty()
            && name.len() <= 100
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "--cluster-name \"{name}\" may only hold letters, digits, '-', '_' and '.' (at most 100)"
            )))
        }
    }

    /// The topic of the cluster's DDL.
    pub(crate) fn catalog_topic(&self) -> String {
        format!("_sluice-{}-catalog", self.name)
    }

    /// The topic of the cluster's heartbeats.
    pub(crate) fn nodes_topic(&self) -> String {
        format!("_sluice-{}-nodes", self.name)
    }

    /// A librdkafka configuration for this cluster's brokers.
    pub(crate) fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.servers).set("client.id", format!("sluice-{}", self.name));
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }
}

/// Which cluster a data directory belongs to, if any (store metadata).
const CLUSTER_KEY: [u8; 8] = [space::META, b'c', b'l', b'u', b's', b't', b'e', b'r'];
/// This node's id (store metadata), made at its first start.
const NODE_KEY: [u8; 5] = [space::META, b'n', b'o', b'd', b'e'];

/// Checks that `store` may be opened as a node of `cluster` (or, with None, as a single
/// node): a directory belongs to the single node or cluster that first used it, since its
/// object ids mean different things in each. Marks a fresh directory.
pub fn claim(store: &Store, cluster: Option<&str>, has_objects: bool) -> Result<()> {
    let mark = store.get(&CLUSTER_KEY)?.map(|v| String::from_utf8_lossy(&v).into_owned());
    match (mark.as_deref(), cluster) {
        (None, None) => Ok(()),
        (Some(m), Some(c)) if m == c => Ok(()),
        (None, Some(c)) if !has_objects => store.commit(vec![(CLUSTER_KEY.to_vec(), Some(c.as_bytes().to_vec()))]),
        (None, Some(c)) => Err(Error::Config(format!(
            "the data directory holds the objects of a single node; it cannot join cluster \"{c}\" (start \
             without --cluster, or give this node a new --data-dir)"
        ))),
        (Some(m), None) => Err(Error::Config(format!(
            "the data directory belongs to cluster \"{m}\"; start it with --cluster and --cluster-name {m}"
        ))),
        (Some(m), Some(c)) => Err(Error::Config(format!(
            "the data directory belongs to cluster \"{m}\", not \"{c}\"; give this node a new --data-dir"
        ))),
    }
}

/// This node's id: 48 random bits, made once and kept in the store.
pub fn node_id(store: &Store) -> Result<String> {
    if let Some(id) = store.get(&NODE_KEY)? {
        return Ok(String::from_utf8_lossy(&id).into_owned());
    }
    let mut bytes = [0u8; 6];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| Error::Internal("no random numbers for a node id".into()))?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    store.commit(vec![(NODE_KEY.to_vec(), Some(id.clone().into_bytes()))])?;
    Ok(id)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_and_names_are_checked() {
        assert_eq!(ClusterConfig::servers_from_url("kafka://a:9092,b:9092").unwrap(), "a:9092,b:9092");
        assert!(ClusterConfig::servers_from_url("a:9092").is_err());
        assert!(ClusterConfig::servers_from_url("kafka://").is_err());
        assert!(ClusterConfig::servers_from_url("kafka://a:1,").is_err());
        assert!(ClusterConfig::check_name("prod-1.eu_west").is_ok());
        assert!(ClusterConfig::check_name("").is_err());
        assert!(ClusterConfig::check_name("a/b").is_err());
    }

    #[test]
    fn a_directory_belongs_to_one_cluster() {
        let store = Store::temporary().unwrap();
        claim(&store, None, false).unwrap();
        claim(&store, Some("prod"), false).unwrap();
        claim(&store, Some("prod"), true).unwrap();
        assert!(claim(&store, None, true).unwrap_err().to_string().contains("belongs to cluster \"prod\""));
        assert!(claim(&store, Some("test"), true).is_err());
        let single = Store::temporary().unwrap();
        assert!(claim(&single, Some("prod"), true).unwrap_err().to_string().contains("single node"));
        let id = node_id(&store).unwrap();
        assert_eq!(node_id(&store).unwrap(), id);
        assert_eq!(id.len(), 12);
    }
}
