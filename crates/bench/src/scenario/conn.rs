//! Connection storm: open N connections, `--concurrency` handshakes at a time, from several 127.0.0.x
//! source addresses (each has only ~28k ephemeral ports); then hold them idle and measure what each costs
//! the broker in memory.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use super::messages::connect_options;
use super::ConnArgs;
use crate::client::{within, Conn};
use crate::metrics::{get, report_until, LatencySummary, Metrics, ProgressKind, Reporter};
use crate::process::{CpuMark, Proc};
use crate::summary::{ConnectionStats, Summary};
use crate::transport::Target;

/// Read buffer of an idle connection: only a PINGRESP or DISCONNECT would ever come.
const IDLE_READ: usize = 256;
/// Wait after the storm before reading the broker's memory, so that it reflects idle connections.
const SETTLE: Duration = Duration::from_secs(1);

/// How one connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Failed,
    Kept,
    Dropped,
}

pub async fn run(args: &ConnArgs, run: &str) -> anyhow::Result<Summary> {
    let common = &args.common;
    let target = Target::new(common).await?;
    let sources: Vec<Option<IpAddr>> = match target.addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => {
            (1..=args.sources).map(|i| Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))).collect()
        }
        _ => vec![None],
    };
    let metrics = Arc::new(Metrics::default());
    let options = connect_options(common);
    let broker = common.broker_pid.map(Proc::Pid);
    let broker_rss_before = broker.and_then(Proc::memory_kib).map(|m| m.0);
    let generator_rss_before = Proc::This.memory_kib().map(|m| m.0);
    let limit = Arc::new(Semaphore::new(args.concurrency as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<bool>();

    let mut reporter = Reporter::new(ProgressKind::Connections, common.quiet, common.broker_pid);
    let gen_mark = CpuMark::now(Proc::This);
    let broker_mark = common.broker_pid.and_then(|pid| CpuMark::now(Proc::Pid(pid)));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..args.connections as usize {
        let (target, options, limit, done, mut stop, metrics) = (
            target.clone(),
            options.clone(),
            limit.clone(),
            done_tx.clone(),
            stop_rx.clone(),
            metrics.clone(),
        );
        let source = sources[i % sources.len()];
        let client_id = format!("tb-{run}-c{i}");
        let setup = common.setup_timeout;
        tasks.spawn(async move {
            let permit = limit.acquire().await;
            let began = Instant::now();
            let opened =
                within(setup, "connecting", Conn::open(&target, source, &client_id, &options, IDLE_READ))
                    .await;
            drop(permit);
            let mut conn = match opened {
                Ok(conn) => conn,
                Err(e) => {
                    metrics.error(format!("connection {i} from {source:?}: {e}"));
                    let _ = done.send(false);
                    return Held::Failed;
                }
            };
            let mut latency = vec![u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX)];
            metrics.record_latencies(i, &mut latency);
            metrics.connected.fetch_add(1, Ordering::Relaxed);
            let _ = done.send(true);
            drop(done);
            let held = hold(&mut conn, &mut stop).await;
            if held == Held::Dropped {
                metrics.error(format!("connection {i} closed by the broker while idle"));
            }
            conn.close().await;
            held
        });
    }
    drop(done_tx);

    let requested = u64::from(args.connections);
    let (connected, failed) = report_until(&mut reporter, &metrics, async {
        let (mut ok, mut failed) = (0u64, 0u64);
        while let Some(success) = done_rx.recv().await {
            if success {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        (ok, failed)
    })
    .await;
    let storm_s = start.elapsed().as_secs_f64();

    let hold_for = args.hold.unwrap_or(common.duration);
    let held_since = Instant::now();
    report_until(&mut reporter, &metrics, tokio::time::sleep(hold_for.max(SETTLE))).await;
    let broker_rss_held = broker.and_then(Proc::memory_kib).map(|m| m.0);
    let generator_rss_held = Proc::This.memory_kib().map(|m| m.0);
    let held_s = held_since.elapsed().as_secs_f64();
    let generator = gen_mark.and_then(|m| m.usage());
    let broker_usage = broker_mark.and_then(|m| m.usage());
    let _ = stop_tx.send(true);
    let mut dropped = 0;
    while let Some(joined) = tasks.join_next().await {
        if matches!(joined, Ok(Held::Dropped)) {
            dropped += 1;
        }
    }
    let latency = reporter.finish(&metrics);
    let per_connection = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) if connected > 0 => Some(a.saturating_sub(b) as f64 / connected as f64),
        _ => None,
    };
    Ok(Summary {
        scenario: "conn".to_owned(),
        broker: target.addr.to_string(),
        protocol: common.version.to_string(),
        qos: 0,
        payload_size: 0,
        publishers: 0,
        subscribers: 0,
        elapsed_s: storm_s + held_s,
        messages: None,
        latency: LatencySummary::of(&latency),
        connections: Some(ConnectionStats {
            requested,
            connected,
            failed,
            storm_s,
            connect_rate: if storm_s > 0.0 { connected as f64 / storm_s } else { 0.0 },
            held_s,
            dropped,
            broker_rss_before_kib: broker_rss_before,
            broker_rss_held_kib: broker_rss_held,
            broker_kib_per_connection: per_connection(broker_rss_before, broker_rss_held),
            generator_kib_per_connection: per_connection(generator_rss_before, generator_rss_held),
            sources: sources.len() as u64,
        }),
        retained: None,
        filters: None,
        errors: get(&metrics.errors),
        error_samples: metrics.error_samples(),
        generator,
        broker_usage,
    })
}

/// Holds an idle connection until told to stop; notices if the broker closes it.
async fn hold(conn: &mut Conn, stop: &mut watch::Receiver<bool>) -> Held {
    let mut scratch = [0u8; 64];
    loop {
        if *stop.borrow_and_update() {
            return Held::Kept;
        }
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    return Held::Kept;
                }
            }
            read = conn.stream.read(&mut scratch) => match read {
                Ok(0) | Err(_) => return Held::Dropped,
                Ok(_) => {}
            }
        }
    }
}
