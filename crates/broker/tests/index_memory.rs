//! Memory held by the topic indexes, measured with a counting allocator: bytes per subscription and per
//! retained topic, and whether removal and churn give the memory back.
//!
//! One test only: the allocator counts for the whole process, so nothing else may run beside it.
//! `cargo test -p tern-broker --test index_memory -- --nocapture` prints the figures.

use std::alloc::System;

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use tern_broker::retained::RetainedIndex;
use tern_broker::router::SubscriptionIndex;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes currently allocated by the process (reallocations are already folded into both counters).
fn live_bytes() -> isize {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

/// The IoT mix of the benches: per site 90 exact device filters, then 5 `site/n/+/+/temp`, 3 `site/n/#`
/// and 2 `site/n/device/+/temp` subscriptions.
fn iot_subscriptions(sites: usize) -> Vec<(String, u64)> {
    let mut subscriptions = Vec::new();
    for site in 0..sites {
        subscriptions.extend((0..90).map(|device| format!("site/{site}/device/{device}/temp")));
        subscriptions.extend((0..5).map(|_| format!("site/{site}/+/+/temp")));
        subscriptions.extend((0..3).map(|_| format!("site/{site}/#")));
        subscriptions.extend((0..2).map(|_| format!("site/{site}/device/+/temp")));
    }
    subscriptions.into_iter().enumerate().map(|(key, filter)| (filter, key as u64)).collect()
}

/// Blocks currently allocated by the process.
fn live_blocks() -> isize {
    let stats = GLOBAL.stats();
    stats.allocations as isize - stats.deallocations as isize
}

/// Bytes and blocks per subscription of `subscriptions` inserted into `index`, and the bytes left after
/// removing them.
fn measure(index: &mut SubscriptionIndex<u64, u64>, subscriptions: &[(String, u64)]) -> (f64, f64, isize) {
    let (before, blocks) = (live_bytes(), live_blocks());
    for (filter, key) in subscriptions {
        index.insert(filter, *key, *key);
    }
    let count = subscriptions.len() as f64;
    let per_subscription = (live_bytes() - before) as f64 / count;
    let blocks = (live_blocks() - blocks) as f64 / count;
    for (filter, key) in subscriptions {
        assert_eq!(index.remove(filter, key), Some(*key));
    }
    (per_subscription, blocks, live_bytes() - before)
}

#[test]
fn indexes_hold_little_per_entry_and_give_memory_back() {
    let mix = iot_subscriptions(1000);
    let (exact, wildcard): (Vec<_>, Vec<_>) =
        mix.iter().cloned().partition(|(filter, _)| !filter.contains(['+', '#']));
    let mut index = SubscriptionIndex::new();

    let (mix_bytes, mix_blocks, mix_left) = measure(&mut index, &mix);
    let (exact_bytes, exact_blocks, exact_left) = measure(&mut index, &exact);
    let (wildcard_bytes, wildcard_blocks, wildcard_left) = measure(&mut index, &wildcard);
    // Removing every subscription gives every byte back: no node, no map capacity left behind.
    assert_eq!((mix_left, exact_left, wildcard_left), (0, 0, 0));
    assert!(index.is_empty());
    assert!(mix_bytes < 128.0, "{mix_bytes} bytes per subscription");

    // Churn on a full index: after a first round has set the maps' capacities, further rounds of the same
    // size leave memory exactly where it was.
    for (filter, key) in &mix {
        index.insert(filter, *key, *key);
    }
    let churn: Vec<_> = iot_subscriptions(1100)
        .into_iter()
        .skip(mix.len())
        .map(|(filter, key)| (format!("x/{filter}"), key))
        .collect();
    measure(&mut index, &churn);
    let steady = live_bytes();
    for _ in 0..5 {
        measure(&mut index, &churn);
    }
    assert_eq!(live_bytes(), steady);
    drop(index);

    let topics: Vec<_> = exact.iter().map(|(topic, _)| topic.clone()).collect();
    let (before, blocks) = (live_bytes(), live_blocks());
    let mut retained = RetainedIndex::new();
    for (value, topic) in topics.iter().enumerate() {
        retained.insert(topic, value as u64);
    }
    let per_topic = (live_bytes() - before) as f64 / topics.len() as f64;
    let blocks = (live_blocks() - blocks) as f64 / topics.len() as f64;
    for topic in &topics {
        assert!(retained.remove(topic).is_some());
    }
    assert_eq!(live_bytes() - before, 0);
    assert!(per_topic < 256.0, "{per_topic} bytes per retained topic");

    // Printed last: captured output is allocated too.
    println!("subscription index, u64 key and value (bytes requested, heap blocks):");
    println!("  IoT mix, {} subscriptions: {mix_bytes:.0} B, {mix_blocks:.2} blocks each", mix.len());
    println!("  its {} exact ones alone: {exact_bytes:.0} B, {exact_blocks:.2} blocks each", exact.len());
    println!(
        "  its {} wildcard ones alone: {wildcard_bytes:.0} B, {wildcard_blocks:.2} blocks each",
        wildcard.len()
    );
    println!("retained index, u64 value, {} topics: {per_topic:.0} B, {blocks:.2} blocks each", topics.len());
}
