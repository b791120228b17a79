//! Durable state: persistent sessions, their queued and inflight messages, QoS 2 packet-id state, retained
//! messages and delayed wills survive a crash (`kill -9`) and a restart.
//!
//! ```text
//!  broker threads ──ops──► Committer (one thread) ──batch──► Store ──► fsync ──► durable LSN ──► acks
//!        │ (publish, ack, subscribe...)   group commit: whatever queued while the last fsync ran,
//!        └─ PUBACK / PUBREC / PUBREL / PUBCOMP / QoS 2 PUBLISH wait for the LSN covering their writes
//! ```
//!
//! Writes are write-through, in the order the broker makes them, and acknowledged to clients only once
//! durable (`fsync` mode) or handed to the OS (`buffered` mode). `memory` mode has no store at all.
//!
//! # Layout
//! - [`Store`]: the engine interface, with [`MemoryStore`] (tests, embedding) and [`FjallStore`] (disk)
//! - [`keys`] and [`record`]: what is stored under which key, in a versioned binary format
//! - [`committer`]: the group-commit thread and the durable LSN
//! - [`durable`]: what the broker calls when durable state changes
//! - [`recovery`]: rebuilding sessions, queues and retained messages at start-up

pub mod committer;
pub mod durable;
mod fjall_store;
pub mod keys;
mod memory;
mod pending;
pub mod record;
pub mod recovery;

use std::fmt::Debug;

pub use committer::Committer;
pub use durable::Durable;
pub use fjall_store::{FjallStore, Opened};
pub use memory::MemoryStore;

/// Version of the stored format (keys and records). Bumped on any incompatible change; a store of an
/// older version is read by the code that knows it, a newer one is refused rather than misread.
pub const FORMAT_VERSION: u32 = 1;

/// One change to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    /// A put of a key that holds nothing (a new message or queue entry, under an identifier never used
    /// before). Stores treat it as [`Op::Put`]; the committer drops it, and the delete that ends it, when
    /// both come before their batch is written: a message acknowledged within the commit window never
    /// reaches the disk.
    Insert(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Removes every key starting with this prefix (a session ends with everything it had).
    DeletePrefix(Vec<u8>),
}

impl Op {
    /// The key it changes (the prefix, for a prefix delete).
    pub fn key(&self) -> &[u8] {
        match self {
            Op::Put(k, _) | Op::Insert(k, _) | Op::Delete(k) | Op::DeletePrefix(k) => k,
        }
    }
}

/// How far a write must have gone before [`Store::sync`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Handed to the operating system: survives the process being killed, not a power loss.
    Os,
    /// On stable storage (fsync).
    Disk,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("store engine error: {0}")]
    Engine(String),
    #[error("the store in {0} is in use by another process")]
    Locked(String),
    #[error(
        "the store was written by a newer Tern (format {found}, this build reads up to {FORMAT_VERSION})"
    )]
    TooNew { found: u32 },
}

/// A key-value engine: ordered keys, atomic batches, prefix scans.
pub trait Store: Send + Sync + Debug {
    /// Applies `ops` in order, atomically: after a crash either all of them are there or none.
    fn write(&self, ops: &[Op]) -> Result<(), StoreError>;

    /// Makes every write so far survive as `mode` says.
    fn sync(&self, mode: SyncMode) -> Result<(), StoreError>;

    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Calls `each` with every key starting with `prefix` and its value, in key order, until it returns
    /// false.
    fn scan(&self, prefix: &[u8], each: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError>;
}

/// Opens the store `config` asks for (or `injected`) and starts its committer; `None` in memory mode.
pub fn open(
    config: &crate::config::PersistenceConfig,
    injected: Option<std::sync::Arc<dyn Store>>,
) -> Result<Option<std::sync::Arc<Durable>>, StoreError> {
    use crate::config::Durability;
    use std::time::Duration;
    let policy = committer::CommitPolicy {
        fsync: config.durability != Durability::Buffered,
        commit_delay: Duration::from_millis(config.commit_delay_ms),
        batch_bytes: 1 << 20,
        sync_interval: Duration::from_millis(config.sync_interval_ms.max(1)),
    };
    let store: std::sync::Arc<dyn Store> = match injected {
        Some(store) => store,
        None if !config.enabled() => return Ok(None),
        None => {
            let (store, _) = FjallStore::open(&config.location)?;
            let shown = std::fs::canonicalize(&config.location).unwrap_or_else(|_| config.location.clone());
            tracing::info!(
                "Storing sessions, queues and retained messages in {} ({} durability).",
                shown.display(),
                if policy.fsync { "fsync" } else { "buffered" }
            );
            std::sync::Arc::new(store)
        }
    };
    let committer = Committer::start(store.clone(), policy);
    Ok(Some(std::sync::Arc::new(Durable::new(store, committer))))
}

/// Rebuilds the broker's state from its store and says what came back.
pub fn restore(broker: &std::sync::Arc<crate::BrokerShared>) -> Result<recovery::Recovered, StoreError> {
    let report = recovery::recover(broker)?;
    if broker.durable.is_some() {
        tracing::info!(
            "Restored {} sessions ({} queued and {} inflight messages), {} retained messages and {} delayed wills in {:.1} ms{}.",
            report.sessions,
            report.queued,
            report.inflight,
            report.retained,
            report.wills,
            report.elapsed.as_secs_f64() * 1000.0,
            if report.damaged > 0 { format!("; {} damaged records dropped", report.damaged) } else { String::new() }
        );
    }
    Ok(report)
}
