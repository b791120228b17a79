//! The in-memory engine: an ordered map behind a lock. For tests (a broker "restarted" in the same process
//! finds its state again) and for embedding Tern where the host keeps the state.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::{Op, Store, StoreError, SyncMode};

#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// Fault injection for tests: every write and sync fails while set, as on a full disk.
    failing: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes writes fail (`true`) as a full disk would, or work again.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.lock().is_empty()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (injected)",
            )));
        }
        Ok(())
    }
}

impl Store for MemoryStore {
    fn write(&self, ops: &[Op]) -> Result<(), StoreError> {
        self.check()?;
        let mut map = self.map.lock();
        for op in ops {
            match op {
                Op::Put(k, v) | Op::Insert(k, v) => {
                    map.insert(k.clone(), v.clone());
                }
                Op::Delete(k) => {
                    map.remove(k);
                }
                Op::DeletePrefix(p) => {
                    let doomed: Vec<Vec<u8>> = map
                        .range(p.clone()..)
                        .take_while(|(k, _)| k.starts_with(p))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in doomed {
                        map.remove(&k);
                    }
                }
            }
        }
        Ok(())
    }

    fn sync(&self, _mode: SyncMode) -> Result<(), StoreError> {
        self.check()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.lock().get(key).cloned())
    }

    fn scan(&self, prefix: &[u8], each: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        // Copied out first: `each` may be slow and must not hold the lock.
        let entries: Vec<(Vec<u8>, Vec<u8>)> = self
            .map
            .lock()
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in entries {
            if !each(&k, &v) {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_apply_in_order_and_prefix_deletes_only_the_prefix() {
        let s = MemoryStore::new();
        s.write(&[
            Op::Put(b"qa\0\x01".to_vec(), b"1".to_vec()),
            Op::Put(b"qa\0\x02".to_vec(), b"2".to_vec()),
            Op::Put(b"qab\0\x01".to_vec(), b"3".to_vec()),
            Op::Delete(b"qa\0\x01".to_vec()),
        ])
        .expect("write");
        let mut seen = Vec::new();
        s.scan(b"qa\0", &mut |k, _| {
            seen.push(k.to_vec());
            true
        })
        .expect("scan");
        assert_eq!(seen, vec![b"qa\0\x02".to_vec()]);
        s.write(&[Op::DeletePrefix(b"qa\0".to_vec())]).expect("write");
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(b"qab\0\x01").expect("get"), Some(b"3".to_vec()));
    }

    #[test]
    fn injected_failure_refuses_writes_until_cleared() {
        let s = MemoryStore::new();
        s.set_failing(true);
        assert!(s.write(&[Op::Put(b"k".to_vec(), b"v".to_vec())]).is_err());
        assert!(s.is_empty());
        s.set_failing(false);
        s.write(&[Op::Put(b"k".to_vec(), b"v".to_vec())]).expect("write");
        assert_eq!(s.len(), 1);
    }
}
