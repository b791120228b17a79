//! What observability costs: recording a latency, counting a publish on the routing path, and scraping
//! `/metrics` with many sessions.
//!
//! `cargo bench -p tern-broker --bench ops -- --measurement-time 2 --warm-up-time 1`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use tern_broker::config::Config;
use tern_broker::message::Message;
use tern_broker::metrics::Histogram;
use tern_broker::session::{Session, Subscription};
use tern_broker::BrokerShared;
use tern_codec::{Publish, QoS, SubscriptionOptions};

fn histogram(c: &mut Criterion) {
    let h = Histogram::default();
    c.bench_function("histogram_observe", |b| b.iter(|| h.observe(black_box(Duration::from_micros(37)))));
}

/// A broker with `sessions` sessions, each subscribed to its own `d/{n}` and to `all`, with empty queues.
fn broker_with(sessions: usize) -> (Arc<BrokerShared>, Vec<Arc<Session>>) {
    let mut config = Config::default();
    config.limits.queue_qos0_messages = true;
    config.limits.max_queued_messages = usize::MAX;
    let broker = Arc::new(BrokerShared::new(config));
    let options = SubscriptionOptions { qos: QoS::AtMostOnce, ..SubscriptionOptions::default() };
    let all: Vec<_> = (0..sessions)
        .map(|n| {
            let id = format!("client-{n}");
            let (session, _) = broker
                .sessions
                .get_or_insert_with(&id.clone().into(), || Session::new(id.into(), broker.queue_limits()));
            broker.router.subscribe(&format!("d/{n}"), &session, Subscription { options, id: None });
            broker.router.subscribe("all", &session, Subscription { options, id: None });
            session
        })
        .collect();
    (broker, all)
}

fn publish(c: &mut Criterion) {
    let (broker, sessions) = broker_with(10);
    let message = |topic: &str| {
        Arc::new(Message::from_publish(
            Publish::new(topic.to_owned(), "21.5"),
            topic.into(),
            Some("p".into()),
            Instant::now(),
        ))
    };
    let one = message("d/3");
    let fan = message("all");
    // Each publish is counted, timed into the routing histogram and queued; queues are emptied per batch.
    c.bench_function("publish_counted_to_1_subscriber", |b| {
        b.iter_batched(
            || sessions.iter().for_each(|s| s.mailbox.lock().clear()),
            |()| broker.publish(one.clone()),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("publish_counted_to_10_subscribers", |b| {
        b.iter_batched(
            || sessions.iter().for_each(|s| s.mailbox.lock().clear()),
            |()| broker.publish(fan.clone()),
            BatchSize::SmallInput,
        )
    });
}

fn scrape(c: &mut Criterion) {
    let (broker, _sessions) = broker_with(10_000);
    let mut group = c.benchmark_group("scrape");
    group.sample_size(20);
    group.bench_function("metrics_render_10k_sessions", |b| {
        b.iter(|| black_box(tern_broker::metrics::render(&broker)))
    });
    group.bench_function("sys_snapshot_10k_sessions", |b| {
        b.iter(|| black_box(tern_broker::sys::Snapshot::of(&broker)))
    });
    group.finish();
}

criterion_group!(benches, histogram, publish, scrape);
criterion_main!(benches);
