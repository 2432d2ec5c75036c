//! An existing Kafka cluster named by [`ENV_EXTERNAL_KAFKA`] (one in Docker, say): the
//! same suites run against it instead of a cluster the harness starts.

use std::sync::{Condvar, Mutex};

use crate::Result;

/// `host:port[,host:port]` of a plain-text listener of an existing cluster. When set,
/// `BrokerKind::Kafka` tests use it instead of starting Kafka.
pub const ENV_EXTERNAL_KAFKA: &str = "ASYNCAPI_TEST_KAFKA";

/// Tests on a shared cluster use fixed topic and group names, so the tests of one
/// process take turns (`cargo test` runs test binaries one after another): `true`
/// while a test has the cluster.
static TAKEN: Mutex<bool> = Mutex::new(false);
static RELEASED: Condvar = Condvar::new();

/// One test's turn on the shared cluster, given back on drop.
struct Turn;

impl Turn {
    fn take() -> Turn {
        let mut taken = TAKEN.lock().unwrap_or_else(|p| p.into_inner());
        while *taken {
            taken = RELEASED.wait(taken).unwrap_or_else(|p| p.into_inner());
        }
        *taken = true;
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        *TAKEN.lock().unwrap_or_else(|p| p.into_inner()) = false;
        RELEASED.notify_one();
    }
}

/// A turn on the external cluster: held for the life of one test.
pub struct ExternalKafka {
    bootstrap: String,
    _turn: Turn,
}

impl ExternalKafka {
    /// The cluster of [`ENV_EXTERNAL_KAFKA`], if the variable is set and not empty.
    pub fn from_env() -> Option<String> {
        std::env::var(ENV_EXTERNAL_KAFKA)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Waits for this process's turn, then checks that the cluster answers metadata.
    pub fn connect(bootstrap: String) -> Result<Self> {
        let turn = Turn::take();
        crate::fetch_metadata(&bootstrap, None, std::time::Duration::from_secs(10))?;
        Ok(ExternalKafka {
            bootstrap,
            _turn: turn,
        })
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Deletes the topic if an earlier test left it (with its committed offsets), then
    /// creates it (default replication factor unless `spec` names one).
    pub fn create_topic_spec(&self, spec: &super::TopicSpec) -> Result<()> {
        super::admin::delete_topic(&self.bootstrap, &spec.name)?;
        super::admin::create_topic(&self.bootstrap, spec)
    }
}
