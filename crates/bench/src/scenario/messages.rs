//! Runs a message scenario: subscribers connect and subscribe, publishers connect, everybody starts at once,
//! publishers stop after the duration or their count, deliveries drain, then every delivery is accounted
//! for: lost (accepted by the broker, never delivered), duplicated, or unexpected (never published there).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use super::plans::Plan;
use crate::client::{within, ClientError, Conn, ConnectOptions, READ_CHUNK};
use crate::metrics::{get, report_until, LatencySummary, Metrics, ProgressKind, Reporter};
use crate::options::CommonArgs;
use crate::process::{CpuMark, Proc};
use crate::publisher::{self, Load, PublisherResult};
use crate::seqset::SeqSet;
use crate::subscriber::{self, SubscriberResult};
use crate::summary::{MessageStats, Summary};
use crate::transport::Target;

/// Handshakes in progress at once during set-up.
const SETUP_CONCURRENCY: usize = 64;
/// SUBSCRIBE packets a subscriber keeps unanswered.
const SUBSCRIBE_WINDOW: usize = 16;
/// With no delivery for this long after publishing ended, nothing more will come.
const IDLE_DRAIN: Duration = Duration::from_secs(2);

pub fn connect_options(common: &CommonArgs) -> ConnectOptions {
    ConnectOptions {
        version: common.version,
        keep_alive: common.keep_alive(),
        username: common.username.clone(),
        password: common.password.clone(),
        persistent: common.persistent,
    }
}

/// Runs `plan` and accounts for every message.
pub async fn run(common: &CommonArgs, run: &str, plan: Plan) -> anyhow::Result<Summary> {
    let target = Target::new(common).await?;
    let metrics = Arc::new(Metrics::default());
    let options = connect_options(common);
    let limit = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (start_tx, start_rx) = watch::channel(None::<Instant>);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let client_prefix = format!("tb-{run}");

    let mut subscribers = JoinSet::new();
    for (id, filters) in plan.subscribers.iter().cloned().enumerate() {
        let (target, options, limit, ready, stop, metrics) = (
            target.clone(),
            options.clone(),
            limit.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
            metrics.clone(),
        );
        let client_id = format!("{client_prefix}-s{id}");
        let (qos, per_packet, setup, size) =
            (common.qos, plan.per_subscribe, common.setup_timeout, common.payload_size());
        subscribers.spawn(async move {
            let opened = async {
                let _permit = limit.acquire().await;
                let mut conn = Conn::open(&target, None, &client_id, &options, READ_CHUNK).await?;
                conn.subscribe(&filters, qos, per_packet, SUBSCRIBE_WINDOW).await?;
                Ok::<_, ClientError>(conn)
            };
            match within(setup, "subscribing", opened).await {
                Ok(conn) => {
                    metrics.connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = ready.send(Ok(()));
                    subscriber::run(conn, id, size, stop, metrics).await
                }
                Err(e) => {
                    let _ = ready.send(Err(format!("subscriber {id}: {e}")));
                    SubscriberResult { id, error: Some(e.to_string()), ..SubscriberResult::default() }
                }
            }
        });
    }
    wait_ready(&mut ready_rx, plan.subscribers.len(), common.setup_timeout, &stop_tx, &mut subscribers)
        .await?;

    let load = Load {
        qos: common.qos,
        payload_size: common.payload_size(),
        rate: common.rate,
        duration: common.duration,
        max_messages: common.messages.unwrap_or(u64::MAX),
        inflight: common.inflight,
        drain_timeout: common.drain_timeout,
    };
    let mut publishers = JoinSet::new();
    for spec in plan.publishers.iter().cloned() {
        let (target, options, limit, ready, start, metrics, load) = (
            target.clone(),
            options.clone(),
            limit.clone(),
            ready_tx.clone(),
            start_rx.clone(),
            metrics.clone(),
            load.clone(),
        );
        let client_id = format!("{client_prefix}-p{}", spec.id);
        let setup = common.setup_timeout;
        publishers.spawn(async move {
            let opened = async {
                let _permit = limit.acquire().await;
                Conn::open(&target, None, &client_id, &options, 16 * 1024).await
            };
            match within(setup, "connecting", opened).await {
                Ok(conn) => {
                    metrics.connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = ready.send(Ok(()));
                    let mut conn = conn;
                    let result = publisher::run(&mut conn, spec, load, start, metrics).await;
                    conn.close().await;
                    result
                }
                Err(e) => {
                    let _ = ready.send(Err(format!("publisher {}: {e}", spec.id)));
                    PublisherResult { id: spec.id, error: Some(e.to_string()), ..PublisherResult::default() }
                }
            }
        });
    }
    drop(ready_tx);
    if let Err(e) =
        wait_ready(&mut ready_rx, plan.publishers.len(), common.setup_timeout, &stop_tx, &mut subscribers)
            .await
    {
        drop(start_tx); // Publishers waiting for the start end without publishing.
        while publishers.join_next().await.is_some() {}
        return Err(e);
    }

    // Measurement starts now.
    let mut reporter = Reporter::new(ProgressKind::Messages, common.quiet, common.broker_pid);
    reporter.reset(&metrics);
    let gen_mark = CpuMark::now(Proc::This);
    let broker_mark = common.broker_pid.and_then(|pid| CpuMark::now(Proc::Pid(pid)));
    let start = Instant::now();
    let start_ns = crate::payload::clock_ns();
    let _ = start_tx.send(Some(start));

    let mut published = report_until(&mut reporter, &metrics, async {
        let mut out = Vec::new();
        while let Some(joined) = publishers.join_next().await {
            if let Ok(result) = joined {
                out.push(result);
            }
        }
        out
    })
    .await;
    published.sort_by_key(|p| p.id);

    let owed = owed_deliveries(&plan, &published);
    report_until(&mut reporter, &metrics, drain(&metrics, owed, common.drain_timeout)).await;
    let _ = stop_tx.send(true);
    let generator = gen_mark.and_then(|m| m.usage());
    let broker_usage = broker_mark.and_then(|m| m.usage());

    let mut received = Vec::new();
    while let Some(joined) = subscribers.join_next().await {
        if let Ok(result) = joined {
            received.push(result);
        }
    }
    received.sort_by_key(|s| s.id);
    let latency = reporter.finish(&metrics);

    let mut stats = account(&plan, &published, &received);
    let last_ns = get(&metrics.last_receive_ns);
    let delivery_time = Duration::from_nanos(last_ns.saturating_sub(start_ns)).as_secs_f64();
    let publishing_time = published.iter().map(|p| p.publishing_time).max().unwrap_or_default().as_secs_f64();
    stats.publish_rate = rate(stats.published, publishing_time);
    stats.delivery_rate = rate(stats.received, delivery_time);
    Ok(Summary {
        scenario: plan.scenario.to_owned(),
        broker: target.addr.to_string(),
        protocol: common.version.to_string(),
        qos: common.qos.as_u8(),
        payload_size: common.payload_size(),
        publishers: plan.publishers.len(),
        subscribers: plan.subscribers.len(),
        elapsed_s: delivery_time.max(publishing_time),
        messages: Some(stats),
        latency: LatencySummary::of(&latency),
        connections: None,
        retained: None,
        filters: plan.filters,
        errors: get(&metrics.errors),
        error_samples: metrics.error_samples(),
        generator,
        broker_usage,
    })
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// Waits until `n` connections reported ready; on the first failure (or the set-up timeout) stops everyone.
async fn wait_ready(
    ready: &mut mpsc::UnboundedReceiver<Result<(), String>>,
    n: usize,
    limit: Duration,
    stop: &watch::Sender<bool>,
    subscribers: &mut JoinSet<SubscriberResult>,
) -> anyhow::Result<()> {
    let outcome = tokio::time::timeout(limit + Duration::from_secs(1), async {
        for _ in 0..n {
            match ready.recv().await {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(e),
                None => return Err("set-up ended early".to_owned()),
            }
        }
        Ok(())
    })
    .await;
    let failure = match outcome {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e,
        Err(_) => "set-up timed out".to_owned(),
    };
    let _ = stop.send(true);
    while subscribers.join_next().await.is_some() {}
    bail!("set-up failed: {failure}")
}

/// Deliveries owed for what the broker accepted: each unit owes each of its publishers' messages once.
fn owed_deliveries(plan: &Plan, published: &[PublisherResult]) -> u64 {
    let accepted: Vec<u64> = {
        let mut v = vec![0; plan.publishers.len()];
        for p in published {
            if let Some(slot) = v.get_mut(p.id as usize) {
                *slot = p.accepted.len();
            }
        }
        v
    };
    plan.units
        .iter()
        .flat_map(|u| u.publishers.iter())
        .map(|&p| accepted.get(p as usize).copied().unwrap_or(0))
        .sum()
}

/// Waits until every owed delivery arrived, nothing arrived for a while, or the drain timeout.
async fn drain(metrics: &Metrics, owed: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = (get(&metrics.received), Instant::now());
    loop {
        let received = get(&metrics.received);
        let now = Instant::now();
        if received >= owed || now >= deadline {
            return;
        }
        if received != last.0 {
            last = (received, now);
        } else if now.duration_since(last.1) >= IDLE_DRAIN {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Exact accounting: per unit and publisher, the union of what the unit's subscribers saw against what the
/// broker accepted; plus anything a subscriber got from a publisher outside its unit.
pub fn account(plan: &Plan, published: &[PublisherResult], received: &[SubscriberResult]) -> MessageStats {
    let empty = PublisherResult::default();
    let by_id = |p: u32| published.iter().find(|r| r.id == p).unwrap_or(&empty);
    let mut stats = MessageStats {
        published: published.iter().map(|p| p.sent).sum(),
        accepted: published.iter().map(|p| p.accepted.len()).sum(),
        rejected: published.iter().map(|p| p.rejected).sum(),
        unacknowledged: published.iter().map(|p| p.unacknowledged).sum(),
        received: received.iter().map(|s| s.received).sum(),
        malformed: received.iter().map(|s| s.malformed).sum(),
        ..MessageStats::default()
    };
    let subscriber = |s: usize| received.iter().find(|r| r.id == s);
    let mut in_unit = vec![Vec::<u32>::new(); plan.subscribers.len()];
    for unit in &plan.units {
        for &s in &unit.subscribers {
            if let Some(slot) = in_unit.get_mut(s) {
                slot.extend(&unit.publishers);
            }
        }
        for &p in &unit.publishers {
            let mut union = SeqSet::default();
            for &s in &unit.subscribers {
                if let Some(seen) = subscriber(s).and_then(|r| r.seen.get(p as usize)) {
                    union.merge(seen);
                }
            }
            let publisher = by_id(p);
            stats.expected += publisher.accepted.len();
            stats.lost += union.missing_from(&publisher.accepted);
            stats.duplicated += union.duplicates();
            stats.unexpected += union.outside(&SeqSet::range(publisher.sent));
        }
    }
    for r in received {
        let Some(mine) = in_unit.get(r.id) else { continue };
        for (p, seen) in r.seen.iter().enumerate() {
            if !mine.contains(&(p as u32)) {
                stats.unexpected += seen.len() + seen.duplicates();
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::plans::Unit;

    fn seq(range: std::ops::Range<u64>) -> SeqSet {
        let mut s = SeqSet::default();
        for i in range {
            s.insert(i);
        }
        s
    }

    fn plan(units: Vec<Unit>, subscribers: usize) -> Plan {
        Plan {
            scenario: "test",
            subscribers: vec![Vec::new(); subscribers],
            per_subscribe: 1,
            publishers: Vec::new(),
            units,
            filters: None,
        }
    }

    fn published(id: u32, sent: u64, accepted: SeqSet) -> PublisherResult {
        PublisherResult { id, sent, accepted, ..PublisherResult::default() }
    }

    #[test]
    fn shared_group_owes_each_message_once_across_members() {
        let plan = plan(vec![Unit { subscribers: vec![0, 1], publishers: vec![0] }], 2);
        let pubs = [published(0, 100, seq(0..100))];
        let subs = [
            SubscriberResult { id: 0, received: 60, seen: vec![seq(0..60)], ..Default::default() },
            SubscriberResult { id: 1, received: 42, seen: vec![seq(58..100)], ..Default::default() },
        ];
        let stats = account(&plan, &pubs, &subs);
        assert_eq!((stats.expected, stats.lost, stats.duplicated, stats.unexpected), (100, 0, 2, 0));
    }

    #[test]
    fn accepted_but_undelivered_is_lost_and_unaccepted_is_not() {
        let plan = plan(vec![Unit { subscribers: vec![0], publishers: vec![0] }], 1);
        // 10 sent, 8 accepted (8 and 9 unacknowledged); 5 and 9 never delivered.
        let pubs = [published(0, 10, seq(0..8))];
        let mut seen = SeqSet::default();
        for i in (0..9).filter(|&i| i != 5) {
            seen.insert(i);
        }
        let subs = [SubscriberResult { id: 0, received: 8, seen: vec![seen], ..Default::default() }];
        let stats = account(&plan, &pubs, &subs);
        assert_eq!((stats.expected, stats.lost, stats.unexpected), (8, 1, 0));
    }

    #[test]
    fn delivery_from_a_publisher_outside_the_unit_is_unexpected() {
        let plan = plan(
            vec![
                Unit { subscribers: vec![0], publishers: vec![0] },
                Unit { subscribers: vec![1], publishers: vec![1] },
            ],
            2,
        );
        let pubs = [published(0, 3, seq(0..3)), published(1, 3, seq(0..3))];
        let subs = [
            SubscriberResult { id: 0, received: 4, seen: vec![seq(0..3), seq(0..1)], ..Default::default() },
            SubscriberResult {
                id: 1,
                received: 3,
                seen: vec![SeqSet::default(), seq(0..3)],
                ..Default::default()
            },
        ];
        let stats = account(&plan, &pubs, &subs);
        assert_eq!((stats.lost, stats.duplicated, stats.unexpected), (0, 0, 1));
    }
}
