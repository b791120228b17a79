//! The store engines under the queue workload: one QoS 1 delivery to a persistent session is a message
//! record and a queue record written, then both deleted when acknowledged. Measured per batch, with the
//! sync each durability mode does (fsync: `SyncMode::Disk`; buffered: `SyncMode::Os`).
//!
//! `cargo bench -p tern-broker --bench store -- --measurement-time 3 --warm-up-time 1`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tern_broker::storage::record::{QueueRecord, Writer};
use tern_broker::storage::{keys, FjallStore, MemoryStore, Op, Store, SyncMode};
use tern_codec::QoS;

/// The changes of `n` deliveries queued (from `first`), and of their acknowledgement.
fn deliveries(first: u64, n: u64) -> (Vec<Op>, Vec<Op>) {
    let mut put = Vec::with_capacity(2 * n as usize);
    let mut delete = Vec::with_capacity(2 * n as usize);
    for id in first..first + n {
        let mut message = Writer::new();
        message.u64(0).u8(0).bytes(&[7u8; 64]);
        let queued = QueueRecord {
            message_id: id,
            qos: QoS::AtLeastOnce,
            retain: false,
            packet_id: 0,
            shared: None,
            subscription_ids: Vec::new(),
        };
        put.push(Op::Put(keys::message(id), message.0));
        put.push(Op::Put(keys::queue("bench-subscriber", id), queued.encode()));
        delete.push(Op::Delete(keys::queue("bench-subscriber", id)));
        delete.push(Op::Delete(keys::message(id)));
    }
    (put, delete)
}

fn run(c: &mut Criterion, name: &str, store: Arc<dyn Store>, sync: SyncMode) {
    let mut group = c.benchmark_group(name);
    for batch in [1u64, 64, 1024] {
        group.throughput(Throughput::Elements(batch));
        let mut next = 1;
        group.bench_with_input(BenchmarkId::new("queue_and_ack", batch), &batch, |b, &batch| {
            b.iter(|| {
                let (put, delete) = deliveries(next, batch);
                next += batch;
                store.write(black_box(&put)).expect("write");
                store.sync(sync).expect("sync");
                store.write(&delete).expect("write");
                store.sync(sync).expect("sync");
            })
        });
    }
    group.finish();
}

fn engines(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fjall, _) = FjallStore::open(&dir.path().join("fsync")).expect("open");
    run(c, "store_fjall_fsync", Arc::new(fjall), SyncMode::Disk);
    let (fjall, _) = FjallStore::open(&dir.path().join("buffered")).expect("open");
    run(c, "store_fjall_buffered", Arc::new(fjall), SyncMode::Os);
    run(c, "store_memory", Arc::new(MemoryStore::new()), SyncMode::Os);
}

criterion_group!(benches, engines);
criterion_main!(benches);
