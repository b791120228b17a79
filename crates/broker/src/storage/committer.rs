//! Group commit: one thread takes every change queued since its last commit, writes them as one batch,
//! syncs, and only then advances the durable log sequence number (LSN) that acknowledgements wait for.
//!
//! Each [`Committer::submit`] gets the next LSN; a change is durable once [`Committer::durable`] has reached
//! its LSN. In `fsync` mode a batch is gathered for at most `commit_delay` (or until `batch_bytes` are
//! queued), so at high rates one fsync covers thousands of messages and at low rates a message waits at
//! most the delay plus one fsync. In `buffered` mode every batch is handed to the OS at once (surviving a
//! killed process) and fsynced every `sync_interval`.
//!
//! A failing write (full disk, I/O error) is retried with back-off, keeping its changes and their order;
//! meanwhile [`Committer::is_failing`] tells publishers to refuse what would need the disk, and nothing
//! covered by the failed batch is acknowledged.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;
use tracing::{error, info};

use super::pending::{op_bytes, Pending};
use super::{Op, Store, SyncMode};
use crate::metrics::Histogram;

/// How the committer makes changes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitPolicy {
    /// fsync every batch before its LSN is durable (`fsync` mode); otherwise hand it to the OS.
    pub fsync: bool,
    /// Longest a change waits for others to share its batch (fsync mode).
    pub commit_delay: Duration,
    /// A batch this large is committed without waiting out the delay.
    pub batch_bytes: usize,
    /// How often buffered mode fsyncs.
    pub sync_interval: Duration,
}

/// Counters of the committer, for metrics.
#[derive(Debug, Default)]
pub struct CommitStats {
    pub batches: AtomicU64,
    pub ops: AtomicU64,
    pub bytes: AtomicU64,
    /// Changes dropped before being written: inserts deleted again within their commit window.
    pub cancelled: AtomicU64,
    pub failures: AtomicU64,
    /// Total microseconds spent writing and syncing batches.
    pub commit_micros: AtomicU64,
    /// Per batch: writing and syncing it.
    pub write_time: Histogram,
    /// Per batch: from its first change being queued to its commit, what an acknowledgement waits.
    pub commit_latency: Histogram,
}

#[derive(Debug)]
pub struct Committer {
    pending: Mutex<Pending>,
    wake: Condvar,
    durable: watch::Sender<u64>,
    failing: AtomicBool,
    pub stats: CommitStats,
    policy: CommitPolicy,
}

impl Committer {
    /// Starts the commit thread over `store`.
    pub fn start(store: Arc<dyn Store>, policy: CommitPolicy) -> Arc<Committer> {
        let committer = Arc::new(Committer {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            durable: watch::Sender::new(0),
            failing: AtomicBool::new(false),
            stats: CommitStats::default(),
            policy,
        });
        let c = committer.clone();
        let spawned =
            std::thread::Builder::new().name("tern-store".into()).spawn(move || c.run(store.as_ref()));
        if let Err(e) = spawned {
            error!("cannot start the store thread: {e}");
        }
        committer
    }

    /// Queues `ops` (in order, after everything queued before) and returns the LSN that covers them.
    pub fn submit(&self, ops: Vec<Op>) -> u64 {
        let mut p = self.pending.lock();
        if ops.is_empty() {
            return p.lsn;
        }
        for op in ops {
            p.push(op);
        }
        p.lsn += 1;
        // The thread needs waking only for a batch's first change (it may be waiting for any) or when the
        // batch is full; otherwise it is writing, or waiting out the commit delay and wakes by itself —
        // waking it for every change cost a futex call and a context switch each.
        let wake = p.since.is_none() || p.bytes >= self.policy.batch_bytes;
        p.since.get_or_insert_with(Instant::now);
        let lsn = p.lsn;
        drop(p);
        if wake {
            self.wake.notify_one();
        }
        lsn
    }

    /// The LSN of the last change queued.
    pub fn submitted(&self) -> u64 {
        self.pending.lock().lsn
    }

    /// Everything up to this LSN is durable.
    pub fn durable(&self) -> u64 {
        *self.durable.borrow()
    }

    /// A receiver to wait on the durable LSN.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }

    /// Waits until `lsn` is durable.
    pub async fn wait(&self, lsn: u64) {
        let mut rx = self.durable.subscribe();
        let _ = rx.wait_for(|&d| d >= lsn).await;
    }

    /// Whether the last attempt to write failed (disk full, I/O error) and is being retried.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Commits what is queued, syncs to disk and stops the thread (clean shutdown).
    pub fn stop(&self) {
        self.pending.lock().stop = true;
        self.wake.notify_one();
    }

    /// Waits (blocking) until everything submitted so far is durable, at most `timeout`.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        let target = self.submitted();
        let deadline = Instant::now() + timeout;
        while self.durable() < target {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    fn run(&self, store: &dyn Store) {
        let mut last_fsync = Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            let (ops, lsn, stop, since) = {
                let mut p = self.pending.lock();
                loop {
                    if p.stop {
                        break;
                    }
                    match p.since {
                        None => {
                            if self.policy.fsync {
                                self.wake.wait(&mut p);
                            } else {
                                let next = last_fsync + self.policy.sync_interval;
                                self.wake.wait_until(&mut p, next);
                                if Instant::now() >= next {
                                    break; // Periodic fsync of buffered mode.
                                }
                            }
                        }
                        Some(since) => {
                            let due = since + self.policy.commit_delay;
                            if !self.policy.fsync
                                || p.bytes >= self.policy.batch_bytes
                                || Instant::now() >= due
                            {
                                break;
                            }
                            self.wake.wait_until(&mut p, due);
                        }
                    }
                }
                self.stats.cancelled.store(p.cancelled, Ordering::Relaxed);
                let since = p.since;
                (p.take(), p.lsn, p.stop, since)
            };
            let fsync_due = self.policy.fsync || stop || last_fsync.elapsed() >= self.policy.sync_interval;
            if ops.is_empty() && !fsync_due {
                continue;
            }
            let started = Instant::now();
            let result = (if ops.is_empty() { Ok(()) } else { store.write(&ops) })
                .and_then(|()| store.sync(if fsync_due { SyncMode::Disk } else { SyncMode::Os }));
            match result {
                Ok(()) => {
                    if fsync_due {
                        last_fsync = Instant::now();
                    }
                    if self.failing.swap(false, Ordering::Relaxed) {
                        info!("Store writes succeed again: acknowledging durable messages.");
                    }
                    backoff = Duration::from_millis(50);
                    let s = &self.stats;
                    s.batches.fetch_add(1, Ordering::Relaxed);
                    s.ops.fetch_add(ops.len() as u64, Ordering::Relaxed);
                    s.bytes.fetch_add(ops.iter().map(op_bytes).sum::<usize>() as u64, Ordering::Relaxed);
                    let took = started.elapsed();
                    s.commit_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
                    // Periodic syncs with nothing queued are not batches anybody waited for.
                    if let Some(since) = since.filter(|_| !ops.is_empty()) {
                        s.write_time.observe(took);
                        s.commit_latency.observe(since.elapsed());
                    }
                    self.durable.send_replace(lsn);
                    if stop {
                        let p = self.pending.lock();
                        if p.is_empty() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    if !self.failing.swap(true, Ordering::Relaxed) {
                        error!("Store write failed: {e}. Durable publishes are refused until it succeeds; retrying.");
                    }
                    // Put the batch back in front of whatever came meanwhile, and try again later.
                    let mut p = self.pending.lock();
                    p.put_back(ops);
                    let give_up = p.stop;
                    drop(p);
                    if give_up {
                        error!("Store write failed at shutdown: {e}; unsaved changes are lost.");
                        return;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    fn policy() -> CommitPolicy {
        CommitPolicy {
            fsync: true,
            commit_delay: Duration::from_millis(1),
            batch_bytes: 1 << 20,
            sync_interval: Duration::from_secs(1),
        }
    }

    fn put(k: &str) -> Op {
        Op::Put(k.as_bytes().to_vec(), vec![1])
    }

    #[tokio::test]
    async fn an_lsn_is_durable_only_after_its_batch_is_written() {
        let store = Arc::new(MemoryStore::new());
        let c = Committer::start(store.clone(), policy());
        let a = c.submit(vec![put("a")]);
        let b = c.submit(vec![put("b"), put("c")]);
        assert!(b > a);
        c.wait(b).await;
        assert_eq!(store.len(), 3);
        assert!(c.durable() >= b);
        c.stop();
    }

    #[tokio::test]
    async fn a_message_acknowledged_within_the_commit_window_is_never_written() {
        let store = Arc::new(MemoryStore::new());
        let c = Committer::start(
            store.clone(),
            CommitPolicy { commit_delay: Duration::from_millis(300), ..policy() },
        );
        let kept = c.submit(vec![put("session")]);
        c.submit(vec![Op::Insert(b"m1".to_vec(), vec![1]), Op::Insert(b"q1".to_vec(), vec![2])]);
        let acked = c.submit(vec![Op::Delete(b"q1".to_vec()), Op::Delete(b"m1".to_vec())]);
        c.wait(acked).await;
        assert!(c.durable() >= kept);
        assert_eq!(store.len(), 1, "only the session record reaches the store");
        assert_eq!(c.stats.cancelled.load(Ordering::Relaxed), 4);
        assert_eq!(c.stats.ops.load(Ordering::Relaxed), 1);
        c.stop();
    }

    #[tokio::test]
    async fn a_failing_store_holds_the_lsn_back_and_keeps_the_changes() {
        let store = Arc::new(MemoryStore::new());
        store.set_failing(true);
        let c = Committer::start(store.clone(), policy());
        let lsn = c.submit(vec![put("a")]);
        let later = c.submit(vec![put("b")]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(c.durable() < lsn, "nothing may count as durable while writes fail");
        assert!(c.is_failing());
        store.set_failing(false);
        tokio::time::timeout(Duration::from_secs(10), c.wait(later)).await.expect("recovers");
        assert_eq!(store.len(), 2);
        assert!(!c.is_failing());
        c.stop();
    }
}
