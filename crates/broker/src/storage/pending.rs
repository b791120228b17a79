//! The changes queued for the next group commit, with the short-lived ones taken out before they are
//! written: a new message or queue entry ([`Op::Insert`]) that is deleted again before its batch is written
//! costs the disk nothing. With an online subscriber that acknowledges within the commit window, that is
//! most of a persistent session's traffic.

use std::collections::HashMap;
use std::time::Instant;

use super::Op;

/// Bytes of an op's key and value.
pub(super) fn op_bytes(op: &Op) -> usize {
    match op {
        Op::Put(k, v) | Op::Insert(k, v) => k.len() + v.len(),
        Op::Delete(k) | Op::DeletePrefix(k) => k.len(),
    }
}

#[derive(Debug, Default)]
pub(super) struct Pending {
    /// In submission order; `None` where an op was cancelled.
    ops: Vec<Option<Op>>,
    /// Keys inserted by an op still in `ops`, and where: nothing before that op held them, and no later
    /// op has touched them.
    inserted: HashMap<Vec<u8>, usize>,
    /// Bytes of the live ops.
    pub bytes: usize,
    /// Ops cancelled since the committer started.
    pub cancelled: u64,
    /// LSN of the last op submitted.
    pub lsn: u64,
    /// When the oldest op not yet taken was queued.
    pub since: Option<Instant>,
    pub stop: bool,
}

impl Pending {
    /// Queues `op` after everything queued before, folding it into an insert it undoes or overwrites.
    pub fn push(&mut self, op: Op) {
        match op {
            Op::Insert(k, v) => {
                if let Some(i) = self.inserted.remove(&k) {
                    self.cancel(i); // Inserted twice: the later value wins.
                }
                self.inserted.insert(k.clone(), self.ops.len());
                self.append(Op::Insert(k, v));
            }
            Op::Put(k, v) => match self.inserted.get(&k) {
                // Nothing touched the key since its insert: insert the new value in its place.
                Some(&i) => {
                    self.bytes += v.len();
                    if let Some(Op::Insert(_, old)) = &mut self.ops[i] {
                        self.bytes -= old.len();
                        *old = v;
                    }
                }
                None => self.append(Op::Put(k, v)),
            },
            Op::Delete(k) => match self.inserted.remove(&k) {
                // The key held nothing before its insert: neither needs writing.
                Some(i) => {
                    self.cancel(i);
                    self.cancelled += 1;
                }
                None => self.append(Op::Delete(k)),
            },
            Op::DeletePrefix(p) => {
                let doomed: Vec<usize> =
                    self.inserted.iter().filter(|(k, _)| k.starts_with(&p)).map(|(_, &i)| i).collect();
                self.inserted.retain(|k, _| !k.starts_with(&p));
                for i in doomed {
                    self.cancel(i);
                }
                self.append(Op::DeletePrefix(p));
            }
        }
    }

    fn append(&mut self, op: Op) {
        self.bytes += op_bytes(&op);
        self.ops.push(Some(op));
    }

    fn cancel(&mut self, i: usize) {
        if let Some(op) = self.ops[i].take() {
            self.bytes -= op_bytes(&op);
            self.cancelled += 1;
        }
    }

    /// Takes the live ops, in order, for a batch.
    pub fn take(&mut self) -> Vec<Op> {
        self.inserted.clear();
        self.bytes = 0;
        self.since = None;
        std::mem::take(&mut self.ops).into_iter().flatten().collect()
    }

    /// Puts a batch that could not be written back in front of what was queued since, keeping the order.
    pub fn put_back(&mut self, batch: Vec<Op>) {
        let later = std::mem::take(&mut self.ops);
        // Indices moved: later deletes simply get written.
        self.inserted.clear();
        self.bytes = 0;
        for op in batch.into_iter().map(Some).chain(later) {
            if let Some(op) = &op {
                self.bytes += op_bytes(op);
            }
            self.ops.push(op);
        }
        self.since.get_or_insert_with(Instant::now);
    }

    pub fn is_empty(&self) -> bool {
        self.ops.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(k: &str, v: &str) -> Op {
        Op::Insert(k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }
    fn put(k: &str, v: &str) -> Op {
        Op::Put(k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }
    fn delete(k: &str) -> Op {
        Op::Delete(k.as_bytes().to_vec())
    }

    fn pending(ops: Vec<Op>) -> Pending {
        let mut p = Pending::default();
        for op in ops {
            p.push(op);
        }
        p
    }

    #[test]
    fn an_insert_deleted_before_its_batch_is_written_is_not_written() {
        let mut p = pending(vec![insert("m1", "x"), insert("q1", "y"), delete("q1"), delete("m1")]);
        assert!(p.is_empty());
        assert_eq!(p.bytes, 0);
        assert_eq!(p.cancelled, 4);
        assert_eq!(p.take(), Vec::<Op>::new());
    }

    #[test]
    fn deletes_of_keys_from_earlier_batches_and_plain_puts_are_written() {
        let mut p = pending(vec![insert("m1", "x")]);
        assert_eq!(p.take(), vec![insert("m1", "x")]);
        // "m1" is on disk now; "s" may be too: both deletes must reach it.
        let mut p2 = pending(vec![put("s", "1"), delete("s"), delete("m1")]);
        assert_eq!(p2.take(), vec![put("s", "1"), delete("s"), delete("m1")]);
        assert_eq!(p2.cancelled, 0);
    }

    #[test]
    fn a_put_over_a_pending_insert_updates_it_in_place_and_a_delete_still_cancels_both() {
        let mut p = pending(vec![insert("q1", "a"), insert("m2", "b"), put("q1", "aa")]);
        assert_eq!(p.bytes, op_bytes(&insert("q1", "aa")) + op_bytes(&insert("m2", "b")));
        assert_eq!(p.take(), vec![insert("q1", "aa"), insert("m2", "b")]);
        let mut p = pending(vec![insert("q1", "a"), put("q1", "aa"), delete("q1")]);
        assert_eq!(p.take(), vec![]);
    }

    #[test]
    fn a_delete_prefix_cancels_the_inserts_it_covers_and_is_still_written() {
        let mut p = pending(vec![insert("qa1", "x"), insert("qb1", "y"), Op::DeletePrefix(b"qa".to_vec())]);
        // A put after the prefix delete is a new value, not folded into the cancelled insert.
        p.push(put("qa1", "z"));
        assert_eq!(p.take(), vec![insert("qb1", "y"), Op::DeletePrefix(b"qa".to_vec()), put("qa1", "z")]);
    }

    #[test]
    fn a_batch_put_back_keeps_its_order_and_later_deletes_are_written() {
        let mut p = pending(vec![insert("m1", "x")]);
        let batch = p.take();
        p.push(insert("m2", "y"));
        p.put_back(batch);
        p.push(delete("m2"));
        assert_eq!(p.take(), vec![insert("m1", "x"), insert("m2", "y"), delete("m2")]);
    }
}
