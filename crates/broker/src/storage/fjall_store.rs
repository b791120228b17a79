//! The disk engine: fjall, a pure-Rust LSM tree with a checksummed journal. One keyspace holds everything;
//! the key prefixes of [`super::keys`] separate the kinds of records.
//!
//! Opening never leaves the broker down: a torn or corrupted journal tail is cut back to the last whole
//! batch (fjall does this; we compare file sizes to say so loudly), and a store that cannot be opened at
//! all is moved aside (quarantined) and replaced by an empty one. After a failed write or fsync (disk
//! full) fjall refuses further writes; the store is then reopened from its journal on the next attempt,
//! so the broker recovers by itself when space returns.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use parking_lot::Mutex;
use tracing::{error, info, warn};

use super::{Op, Store, StoreError, SyncMode};

const KEYSPACE: &str = "tern";

/// How a store was opened.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Bytes of torn or corrupted journal tail cut off during recovery.
    pub tail_bytes_discarded: u64,
    /// Where a store that could not be opened was moved to.
    pub quarantined: Option<PathBuf>,
}

#[derive(Debug)]
pub struct FjallStore {
    path: PathBuf,
    /// `None` between a failure that poisoned the engine and the reopen that recovers from it.
    inner: Mutex<Option<Engine>>,
}

struct Engine {
    db: Database,
    keyspace: Keyspace,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}

fn engine_error(e: fjall::Error) -> StoreError {
    match e {
        fjall::Error::Io(io) => StoreError::Io(io),
        other => StoreError::Engine(format!("{other:?}")),
    }
}

fn open_engine(path: &Path) -> Result<Engine, StoreError> {
    let open = || {
        Database::builder(path)
            // Small caches: the broker's own state is in memory; the store is read at start-up.
            .cache_size(8 * 1024 * 1024)
            .worker_threads(1)
            // Tern decides when the journal reaches the OS and the disk (the committer).
            .manual_journal_persist(true)
            .open()
    };
    // fjall's journal recovery asserts on some damaged entries instead of returning an error: such a
    // journal is damage like any other (the store is quarantined), not a reason to stay down. Nothing
    // of the half-opened database outlives the panic, so no broken state is observed afterwards.
    let db = std::panic::catch_unwind(std::panic::AssertUnwindSafe(open))
        .map_err(|_| StoreError::Engine("the journal is damaged (recovery panicked)".into()))?
        .map_err(|e| match e {
            fjall::Error::Locked => StoreError::Locked(path.display().to_string()),
            other => engine_error(other),
        })?;
    // A smaller memtable than the default 64 MiB: it is memory the broker holds for every queued message
    // until the next flush, and queues turn over fast.
    let options = || KeyspaceCreateOptions::default().max_memtable_size(16 * 1024 * 1024);
    let keyspace = db.keyspace(KEYSPACE, options).map_err(engine_error)?;
    Ok(Engine { db, keyspace })
}

/// Where the data of each journal under `dir` ends (journals are preallocated with zeros), to tell what
/// recovery cut off from what was never written.
fn journal_data_ends(dir: &Path) -> HashMap<PathBuf, u64> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "jnl") {
            if let Ok(end) = data_end(&p) {
                out.insert(p, end);
            }
        }
    }
    out
}

/// Offset just past the last non-zero byte of a file.
fn data_end(path: &Path) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let mut end = f.metadata()?.len();
    let mut buf = vec![0u8; 1 << 20];
    while end > 0 {
        let n = buf.len().min(end as usize);
        f.seek(SeekFrom::Start(end - n as u64))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b != 0) {
            return Ok(end - n as u64 + i as u64 + 1);
        }
        end -= n as u64;
    }
    Ok(0)
}

impl FjallStore {
    /// Opens (or creates) the store in `path`, recovering or quarantining a damaged one. Fails only when
    /// the directory cannot be used at all (permissions, another broker holds it).
    pub fn open(path: &Path) -> Result<(FjallStore, Opened), StoreError> {
        std::fs::create_dir_all(path)?;
        let before = journal_data_ends(path);
        let mut opened = Opened::default();
        let engine = match open_engine(path) {
            Ok(engine) => engine,
            Err(e @ StoreError::Locked(_)) => return Err(e),
            Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(StoreError::Io(e))
            }
            Err(e) => {
                let aside = quarantine_path(path);
                error!(
                    "Store in {} cannot be opened ({e}): moved to {} and starting with an empty store.",
                    path.display(),
                    aside.display()
                );
                std::fs::rename(path, &aside)?;
                std::fs::create_dir_all(path)?;
                opened.quarantined = Some(aside);
                open_engine(path)?
            }
        };
        if opened.quarantined.is_none() {
            opened.tail_bytes_discarded = before
                .iter()
                .filter_map(|(p, &end)| Some(end.saturating_sub(std::fs::metadata(p).ok()?.len())))
                .sum();
            if opened.tail_bytes_discarded > 0 {
                warn!(
                    "Store in {}: recovered to the last complete batch; {} bytes of torn or corrupted journal tail discarded.",
                    path.display(),
                    opened.tail_bytes_discarded
                );
            }
        }
        Ok((FjallStore { path: path.to_path_buf(), inner: Mutex::new(Some(engine)) }, opened))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the engine, reopening it first if a failure poisoned it, and dropping it (to reopen
    /// next time) when `f` fails.
    fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> Result<T, fjall::Error>) -> Result<T, StoreError> {
        let mut inner = self.inner.lock();
        if inner.is_none() {
            let engine = open_engine(&self.path)?;
            info!("Store in {} reopened after a failure.", self.path.display());
            *inner = Some(engine);
        }
        let Some(engine) = inner.as_ref() else {
            return Err(StoreError::Engine("store unavailable".into()));
        };
        match f(engine) {
            Ok(v) => Ok(v),
            Err(e) => {
                // Poisoned or not, a reopen replays the journal and gives a consistent state.
                *inner = None;
                Err(engine_error(e))
            }
        }
    }
}

fn quarantine_path(path: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "store".into());
    path.with_file_name(format!("{name}.quarantine-{stamp}"))
}

/// Writes a batch with prefix deletes: the effect of every op on every key, in key order.
fn write_with_prefix_deletes(e: &Engine, ops: &[Op]) -> Result<(), fjall::Error> {
    let mut effect: BTreeMap<Vec<u8>, Option<&[u8]>> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Put(k, v) | Op::Insert(k, v) => {
                effect.insert(k.clone(), Some(v.as_slice()));
            }
            Op::Delete(k) => {
                effect.insert(k.clone(), None);
            }
            Op::DeletePrefix(p) => {
                for kv in e.keyspace.prefix(p) {
                    effect.insert(kv.key()?.to_vec(), None);
                }
                for (k, v) in effect.iter_mut() {
                    if k.starts_with(p) {
                        *v = None;
                    }
                }
            }
        }
    }
    let mut batch = e.db.batch();
    for (k, v) in effect {
        match v {
            Some(v) => batch.insert(&e.keyspace, k, v),
            None => batch.remove(&e.keyspace, k),
        }
    }
    batch.commit()
}

impl Store for FjallStore {
    fn write(&self, ops: &[Op]) -> Result<(), StoreError> {
        self.with_engine(|e| {
            // One batch, one value per key (a batch gives all its items one sequence number): the last op
            // on a key wins. A prefix delete needs the keys it covers, found by a scan.
            if ops.iter().any(|op| matches!(op, Op::DeletePrefix(_))) {
                return write_with_prefix_deletes(e, ops);
            }
            let mut last: HashMap<&[u8], usize> = HashMap::with_capacity(ops.len());
            for (i, op) in ops.iter().enumerate() {
                last.insert(op.key(), i);
            }
            let mut batch = e.db.batch();
            for (i, op) in ops.iter().enumerate() {
                if last.get(op.key()) != Some(&i) {
                    continue;
                }
                match op {
                    Op::Put(k, v) | Op::Insert(k, v) => batch.insert(&e.keyspace, k.as_slice(), v.as_slice()),
                    Op::Delete(k) | Op::DeletePrefix(k) => batch.remove(&e.keyspace, k.as_slice()),
                }
            }
            batch.commit()
        })
    }

    fn sync(&self, mode: SyncMode) -> Result<(), StoreError> {
        let mode = match mode {
            SyncMode::Os => PersistMode::Buffer,
            SyncMode::Disk => PersistMode::SyncData,
        };
        self.with_engine(|e| e.db.persist(mode))
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_engine(|e| Ok(e.keyspace.get(key)?.map(|v| v.to_vec())))
    }

    fn scan(&self, prefix: &[u8], each: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        self.with_engine(|e| {
            for kv in e.keyspace.prefix(prefix) {
                let (k, v) = kv.into_inner()?;
                if !each(&k, &v) {
                    break;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> Op {
        Op::Put(k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn survives_reopen_and_applies_one_value_per_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (s, opened) = FjallStore::open(dir.path()).expect("open");
            assert_eq!(opened, Opened::default());
            s.write(&[put("qa\0\x01", "1"), put("qa\0\x02", "2"), Op::Delete(b"qa\0\x01".to_vec())])
                .expect("write");
            s.write(&[put("qa\0\x03", "3"), Op::DeletePrefix(b"qa\0".to_vec()), put("qa\0\x04", "4")])
                .expect("write");
            s.sync(SyncMode::Disk).expect("sync");
        }
        let (s, _) = FjallStore::open(dir.path()).expect("reopen");
        let mut seen = Vec::new();
        s.scan(b"q", &mut |k, v| {
            seen.push((k.to_vec(), v.to_vec()));
            true
        })
        .expect("scan");
        assert_eq!(seen, vec![(b"qa\0\x04".to_vec(), b"4".to_vec())]);
    }

    #[test]
    fn a_store_that_cannot_be_opened_is_quarantined_and_replaced_by_an_empty_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data");
        {
            let (s, _) = FjallStore::open(&path).expect("open");
            s.write(&[put("k", "v")]).expect("write");
            s.sync(SyncMode::Disk).expect("sync");
        }
        // Damage the engine's own metadata: nothing to recover from.
        std::fs::write(path.join("version"), b"garbage!").expect("damage");
        let (s, opened) = FjallStore::open(&path).expect("opens anyway");
        let aside = opened.quarantined.expect("moved aside");
        assert!(aside.join("version").exists(), "the damaged store is kept for inspection");
        assert_eq!(s.get(b"k").expect("get"), None, "starts empty");
        s.write(&[put("k", "new")]).expect("and works");
    }

    #[test]
    fn a_second_broker_on_the_same_store_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_s, _) = FjallStore::open(dir.path()).expect("open");
        assert!(matches!(FjallStore::open(dir.path()), Err(StoreError::Locked(_))));
    }
}
