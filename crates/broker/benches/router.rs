//! Topic index benches: matching a PUBLISH topic against many subscriptions, subscription churn, and
//! retained lookups by wildcard filter.
//!
//! The subscriptions have IoT shapes. Each site of 100 subscriptions has 90 devices subscribed to their own
//! exact topic `site/{n}/device/{m}/temp`, 5 clients on `site/{n}/+/+/temp`, 3 on `site/{n}/#` and 2 on
//! `site/{n}/device/+/temp`; so a device's temperature topic matches 11 subscriptions.
//!
//! `cargo bench -p tern-broker --bench router` (2 s measurement, 1 s warm-up per bench).
//!
//! Times are the benchmark thread's CPU time, not wall time: the project's machine is shared (2 cores, often
//! a load of 10), and wall time there mostly measures how long the thread waited for a core.

use std::hint::black_box;
use std::time::Duration;

use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_broker::retained::RetainedIndex;
use tern_broker::router::SubscriptionIndex;

/// Subscriptions per site and devices (exact subscriptions) per site.
const PER_SITE: usize = 100;
const DEVICES: usize = 90;
/// Subscriptions a device's temperature topic matches.
const MATCHES_PER_TOPIC: usize = 11;

/// `total` subscriptions as (filter, key).
fn iot_subscriptions(total: usize) -> Vec<(String, u64)> {
    let mut subscriptions = Vec::with_capacity(total);
    for site in 0..total / PER_SITE {
        for device in 0..DEVICES {
            subscriptions.push(format!("site/{site}/device/{device}/temp"));
        }
        subscriptions.extend((0..5).map(|_| format!("site/{site}/+/+/temp")));
        subscriptions.extend((0..3).map(|_| format!("site/{site}/#")));
        subscriptions.extend((0..2).map(|_| format!("site/{site}/device/+/temp")));
    }
    subscriptions.into_iter().enumerate().map(|(key, filter)| (filter, key as u64)).collect()
}

fn index_of(subscriptions: &[(String, u64)]) -> SubscriptionIndex<u64, u64> {
    let mut index = SubscriptionIndex::new();
    for (filter, key) in subscriptions {
        index.insert(filter, *key, *key);
    }
    index
}

/// Random device temperature topics of the sites in an index of `total` subscriptions.
fn device_topics(total: usize, count: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..count)
        .map(|_| {
            let (site, device) = (rng.gen_range(0..total / PER_SITE), rng.gen_range(0..DEVICES));
            format!("site/{site}/device/{device}/temp")
        })
        .collect()
}

fn count_matches(index: &SubscriptionIndex<u64, u64>, topic: &str) -> usize {
    let mut matched = 0;
    index.for_each_match(topic, |_, key, _| {
        black_box(key);
        matched += 1;
    });
    matched
}

fn matching(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("match");
    group.throughput(Throughput::Elements(1));
    for total in [100_000, 1_000_000] {
        let index = index_of(&iot_subscriptions(total));
        let topics = device_topics(total, 4096);
        for topic in &topics {
            assert_eq!(count_matches(&index, topic), MATCHES_PER_TOPIC, "{topic}");
        }
        let mut next = topics.iter().cycle();
        group.bench_function(BenchmarkId::new("device_topic_11_matches", total), |b| {
            b.iter(|| count_matches(&index, next.next().map_or("", String::as_str)))
        });
        let unrelated = "factory/12/line/3/temp";
        assert_eq!(count_matches(&index, unrelated), 0);
        group.bench_function(BenchmarkId::new("unrelated_topic_0_matches", total), |b| {
            b.iter(|| count_matches(&index, black_box(unrelated)))
        });
    }
    group.finish();

    // The linear scan the index replaces, for scale.
    let mut group = c.benchmark_group("match_linear_scan");
    group.throughput(Throughput::Elements(1)).sample_size(10);
    let subscriptions = iot_subscriptions(100_000);
    let topics = device_topics(100_000, 64);
    let mut next = topics.iter().cycle();
    group.bench_function(BenchmarkId::new("device_topic_11_matches", 100_000), |b| {
        b.iter(|| {
            let topic = next.next().map_or("", String::as_str);
            subscriptions.iter().filter(|(filter, _)| tern_codec::topic::matches(filter, topic)).count()
        })
    });
    group.finish();
}

fn churn(c: &mut Criterion<ThreadCpuTime>) {
    let total = 100_000;
    let subscriptions = iot_subscriptions(total);
    let mut group = c.benchmark_group("churn");
    group.sample_size(10).throughput(Throughput::Elements(total as u64));
    group.bench_function(BenchmarkId::new("insert_all", total), |b| b.iter(|| index_of(&subscriptions)));
    group.bench_function(BenchmarkId::new("remove_all", total), |b| {
        b.iter_batched(
            || index_of(&subscriptions),
            |mut index| {
                for (filter, key) in &subscriptions {
                    index.remove(filter, key);
                }
                index
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();

    // One client subscribing and unsubscribing in a full index: 2 operations per iteration.
    let mut group = c.benchmark_group("churn");
    group.throughput(Throughput::Elements(2));
    let mut index = index_of(&subscriptions);
    let fresh: Vec<_> = device_topics(total, 1024)
        .into_iter()
        .enumerate()
        .flat_map(|(i, topic)| {
            let wildcard = topic.replacen("device", "+", 1);
            [(topic, u64::MAX - i as u64), (wildcard, u64::MAX - i as u64)]
        })
        .collect();
    let mut next = fresh.iter().cycle();
    group.bench_function(BenchmarkId::new("subscribe_unsubscribe", total), |b| {
        b.iter(|| {
            let (filter, key) = next.next().map_or(("", 0), |(f, k)| (f.as_str(), *k));
            index.insert(filter, key, 0);
            index.remove(filter, &key)
        })
    });
    group.finish();
}

fn retained(c: &mut Criterion<ThreadCpuTime>) {
    let mut index = RetainedIndex::new();
    for site in 0..1000 {
        for device in 0..100 {
            index.insert(&format!("site/{site}/device/{device}/temp"), site * 100 + device);
        }
    }
    let count = |index: &RetainedIndex<u64>, filter: &str| {
        let mut matched = 0;
        index.for_each_match(filter, |topic, value| {
            black_box((topic, value));
            matched += 1;
        });
        matched
    };
    let mut group = c.benchmark_group("retained");
    for (filter, expected) in [("#", 100_000), ("site/+/device/7/temp", 1000), ("site/7/#", 100)] {
        assert_eq!(count(&index, filter), expected, "{filter}");
        group.throughput(Throughput::Elements(expected as u64));
        group.bench_function(BenchmarkId::new(format!("{filter} of 100000"), expected), |b| {
            b.iter(|| count(&index, black_box(filter)))
        });
    }
    group.finish();

    // What the trie replaces: every retained topic compared with the filter.
    let mut group = c.benchmark_group("retained_linear_scan");
    group.sample_size(10);
    let topics: Vec<(String, u64)> = index.iter().map(|(topic, value)| (topic.to_owned(), *value)).collect();
    for (filter, expected) in [("site/+/device/7/temp", 1000), ("site/7/#", 100)] {
        group.throughput(Throughput::Elements(expected as u64));
        group.bench_function(BenchmarkId::new(format!("{filter} of 100000"), expected), |b| {
            b.iter(|| topics.iter().filter(|(topic, _)| tern_codec::topic::matches(filter, topic)).count())
        });
    }
    group.finish();
}

/// The CPU time the benchmark thread used (`CLOCK_THREAD_CPUTIME_ID`), in nanoseconds.
struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = ThreadTime;
    type Value = Duration;

    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }
    fn end(&self, start: ThreadTime) -> Duration {
        start.elapsed()
    }
    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

/// Prints nanosecond values and element throughputs as criterion's wall-time formatter does.
struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            t if t < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        values.iter_mut().for_each(|value| *value *= factor);
        unit
    }

    fn scale_throughputs(&self, typical: f64, throughput: &Throughput, values: &mut [f64]) -> &'static str {
        let per_iteration = match *throughput {
            Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => n as f64,
        };
        let (denominator, unit) = match per_iteration * 1e9 / typical {
            t if t < 1e3 => (1.0, " elem/s"),
            t if t < 1e6 => (1e3, "Kelem/s"),
            t if t < 1e9 => (1e6, "Melem/s"),
            _ => (1e9, "Gelem/s"),
        };
        values.iter_mut().for_each(|value| *value = per_iteration * 1e9 / *value / denominator);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .with_measurement(ThreadCpuTime)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1));
    targets = matching, churn, retained
}
criterion_main!(benches);
