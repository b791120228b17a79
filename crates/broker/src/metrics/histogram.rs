//! A latency histogram the hot path can feed without a lock: fixed buckets of atomic counters, striped so
//! that threads recording at once do not fight over one cache line. Scrapes add the stripes up.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in nanoseconds: 10 µs to 10 s, roughly 1-2.5-5 per decade.
pub const BOUNDS_NANOS: [u64; 19] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

const STRIPES: usize = 8;
/// One bucket per bound plus the `+Inf` one.
const BUCKETS: usize = BOUNDS_NANOS.len() + 1;

/// One thread group's share of the counts, alone on its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe {
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
}

/// Durations counted in fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    stripes: [Stripe; STRIPES],
}

/// What a histogram holds at one moment. Buckets count their own observations only; the exposition
/// makes them cumulative.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound in seconds, observations at or below it); the last bound is `f64::MAX`, which the
    /// exposition writes as `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|i| {
        if i.get() == usize::MAX {
            i.set(NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES);
        }
        i.get()
    })
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NANOS.iter().position(|&b| nanos <= b).unwrap_or(BOUNDS_NANOS.len());
        let stripe = &self.stripes[stripe_index()];
        stripe.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        stripe.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut per_bucket = [0u64; BUCKETS];
        let mut sum_nanos = 0u64;
        for stripe in &self.stripes {
            for (total, b) in per_bucket.iter_mut().zip(&stripe.buckets) {
                *total += b.load(Ordering::Relaxed);
            }
            sum_nanos = sum_nanos.wrapping_add(stripe.sum_nanos.load(Ordering::Relaxed));
        }
        let buckets: Vec<(f64, u64)> = per_bucket
            .iter()
            .enumerate()
            .map(|(i, &n)| (BOUNDS_NANOS.get(i).map_or(f64::MAX, |&b| b as f64 / 1e9), n))
            .collect();
        let count = per_bucket.iter().sum();
        HistogramSnapshot { buckets, count, sum_seconds: sum_nanos as f64 / 1e9 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(5));
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_micros(11));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets[0], (10e-6, 2), "10 µs is at or below the first bound");
        assert_eq!(s.buckets[1], (25e-6, 1));
        assert_eq!(s.buckets[BOUNDS_NANOS.len() - 1].1, 0);
        assert_eq!(*s.buckets.last().unwrap(), (f64::MAX, 1), "60 s is beyond the last bound");
        assert!((s.sum_seconds - 60.000026).abs() < 1e-9);
    }

    #[test]
    fn observations_from_many_threads_are_all_counted() {
        let h = std::sync::Arc::new(Histogram::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| h.observe(Duration::from_millis(1))))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(h.snapshot().count, 4000);
    }
}
