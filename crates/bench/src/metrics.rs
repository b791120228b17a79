//! Counters and latency shared by every connection of a run, and the progress line printed each second.
//!
//! Connections count in relaxed atomics once per read or write batch, and record latencies into one of a
//! few histogram shards under a short lock, once per batch too: the hot path takes no lock per message.
//! The reporter swaps the shards out each second, prints the interval and keeps the total.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::process::{CpuMark, Proc};

/// Latencies are recorded in nanoseconds, up to an hour, to three significant digits.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;
const SHARDS: usize = 8;
/// Error messages kept for the summary; the rest are only counted.
const ERROR_SAMPLES: usize = 8;

fn new_histogram() -> Histogram<u64> {
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("constant histogram bounds are valid")
}

/// Shared state of a run.
#[derive(Debug)]
pub struct Metrics {
    pub published: AtomicU64,
    pub acked: AtomicU64,
    pub received: AtomicU64,
    pub connected: AtomicU64,
    pub errors: AtomicU64,
    /// Clock (`payload::clock_ns`) of the latest delivery.
    pub last_receive_ns: AtomicU64,
    shards: Vec<Mutex<Histogram<u64>>>,
    error_samples: Mutex<Vec<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            published: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            received: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            last_receive_ns: AtomicU64::new(0),
            shards: (0..SHARDS).map(|_| Mutex::new(new_histogram())).collect(),
            error_samples: Mutex::new(Vec::new()),
        }
    }
}

pub fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Metrics {
    /// Moves a batch of latencies (nanoseconds) into the shard of connection `conn`.
    pub fn record_latencies(&self, conn: usize, batch: &mut Vec<u64>) {
        if batch.is_empty() {
            return;
        }
        if let Ok(mut h) = self.shards[conn % SHARDS].lock() {
            for &ns in batch.iter() {
                h.saturating_record(ns.max(1));
            }
        }
        batch.clear();
    }

    /// Counts an error and keeps its message if few were kept yet.
    pub fn error(&self, message: impl Into<String>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut samples) = self.error_samples.lock() {
            if samples.len() < ERROR_SAMPLES {
                samples.push(message.into());
            }
        }
    }

    pub fn error_samples(&self) -> Vec<String> {
        self.error_samples.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Takes the latencies recorded since the last call.
    fn take_interval(&self) -> Histogram<u64> {
        let mut interval = new_histogram();
        for shard in &self.shards {
            if let Ok(mut h) = shard.lock() {
                let _ = interval.add(&*h);
                h.reset();
            }
        }
        interval
    }
}

/// Percentiles of a latency distribution, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Option<LatencySummary> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some(LatencySummary {
            count: h.len(),
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.5)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        })
    }
}

/// Formats microseconds for people: `85us`, `1.25ms`, `2.10s`.
pub fn human_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

/// What the progress line shows besides rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressKind {
    /// Publish, delivery and latency rates.
    Messages,
    /// Connections established and connect latency.
    Connections,
}

/// Prints a progress line each second and accumulates the run's latency histogram.
#[derive(Debug)]
pub struct Reporter {
    total: Histogram<u64>,
    started: Instant,
    last: Instant,
    last_counts: [u64; 3],
    gen_mark: Option<CpuMark>,
    broker_mark: Option<CpuMark>,
    broker_pid: Option<u32>,
    kind: ProgressKind,
    quiet: bool,
}

impl Reporter {
    pub fn new(kind: ProgressKind, quiet: bool, broker: Option<u32>) -> Reporter {
        let now = Instant::now();
        Reporter {
            total: new_histogram(),
            started: now,
            last: now,
            last_counts: [0; 3],
            gen_mark: CpuMark::now(Proc::This),
            broker_mark: broker.and_then(|pid| CpuMark::now(Proc::Pid(pid))),
            broker_pid: broker,
            kind,
            quiet,
        }
    }

    /// Starts the latency total afresh (after set-up, when measuring begins).
    pub fn reset(&mut self, metrics: &Metrics) {
        let _ = metrics.take_interval();
        self.total.reset();
    }

    /// Takes the interval's latencies into the total and prints the progress line.
    pub fn tick(&mut self, metrics: &Metrics) {
        let interval = metrics.take_interval();
        let _ = self.total.add(&interval);
        let now = Instant::now();
        let secs = now.duration_since(self.last).as_secs_f64().max(1e-9);
        let counts = [get(&metrics.published), get(&metrics.received), get(&metrics.connected)];
        let rate = |i: usize| (counts[i].saturating_sub(self.last_counts[i])) as f64 / secs;
        let lat = LatencySummary::of(&interval).map_or_else(
            || "-".to_owned(),
            |l| format!("p50 {} p99 {}", human_us(l.p50_us), human_us(l.p99_us)),
        );
        let cpu = |mark: &mut Option<CpuMark>, proc: Proc| {
            let usage = mark.as_ref().and_then(CpuMark::usage);
            *mark = CpuMark::now(proc);
            usage.map_or_else(|| "-".to_owned(), |u| format!("{:.0}%", u.cpu_percent))
        };
        let gen = cpu(&mut self.gen_mark, Proc::This);
        let broker = match self.broker_pid {
            Some(pid) => format!(" broker {}", cpu(&mut self.broker_mark, Proc::Pid(pid))),
            None => String::new(),
        };
        let line = match self.kind {
            ProgressKind::Messages => format!(
                "[{:>4.0}s] pub {:>9.0}/s  recv {:>9.0}/s  latency {lat}  errors {}  cpu gen {gen}{broker}",
                now.duration_since(self.started).as_secs_f64(),
                rate(0),
                rate(1),
                get(&metrics.errors),
            ),
            ProgressKind::Connections => format!(
                "[{:>4.0}s] connected {:>7} ({:>7.0}/s)  connect {lat}  errors {}  cpu gen {gen}{broker}",
                now.duration_since(self.started).as_secs_f64(),
                counts[2],
                rate(2),
                get(&metrics.errors),
            ),
        };
        self.last = now;
        self.last_counts = counts;
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }

    /// The latency histogram of the whole run, with anything still in the shards.
    pub fn finish(mut self, metrics: &Metrics) -> Histogram<u64> {
        let _ = self.total.add(metrics.take_interval());
        self.total
    }
}

/// Ticks the reporter each second until `done` resolves.
pub async fn report_until<F: std::future::Future>(
    reporter: &mut Reporter,
    metrics: &Metrics,
    done: F,
) -> F::Output {
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(done);
    loop {
        tokio::select! {
            out = &mut done => return out,
            _ = ticker.tick() => reporter.tick(metrics),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_latencies_move_into_the_total_once() {
        let metrics = Metrics::default();
        let mut reporter = Reporter::new(ProgressKind::Messages, true, None);
        let mut batch = vec![1_000, 2_000, 3_000];
        metrics.record_latencies(3, &mut batch);
        assert!(batch.is_empty());
        reporter.tick(&metrics);
        let mut batch = vec![4_000];
        metrics.record_latencies(5, &mut batch);
        let total = reporter.finish(&metrics);
        assert_eq!(total.len(), 4);
        assert_eq!(LatencySummary::of(&total).map(|l| l.max_us.round()), Some(4.0));
    }

    #[test]
    fn error_samples_are_bounded_but_all_errors_counted() {
        let metrics = Metrics::default();
        for i in 0..20 {
            metrics.error(format!("e{i}"));
        }
        assert_eq!(get(&metrics.errors), 20);
        assert_eq!(metrics.error_samples().len(), ERROR_SAMPLES);
    }

    #[test]
    fn human_units() {
        assert_eq!(human_us(85.2), "85us");
        assert_eq!(human_us(1250.0), "1.25ms");
        assert_eq!(human_us(2_100_000.0), "2.10s");
    }
}
