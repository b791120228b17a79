//! The memory high-water mark: a sampler reads the process's resident memory a few times a second and
//! raises a flag the accept loops and the publish path read with one relaxed load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How often resident memory is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// Resident memory and whether it is above the mark.
#[derive(Debug, Default)]
pub struct MemoryWatch {
    high_water: u64,
    resident: AtomicU64,
    peak: AtomicU64,
    over: AtomicBool,
}

impl MemoryWatch {
    /// `high_water` 0 never reports overload (memory is still sampled for `$SYS` and metrics).
    pub fn new(high_water: u64) -> Self {
        MemoryWatch { high_water, ..MemoryWatch::default() }
    }

    /// Whether memory is above the mark: refuse new connections, drop QoS 0 from clients.
    pub fn is_over(&self) -> bool {
        self.over.load(Ordering::Relaxed)
    }

    /// Resident bytes at the last sample, and the highest sampled.
    pub fn resident(&self) -> u64 {
        self.resident.load(Ordering::Relaxed)
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn high_water(&self) -> u64 {
        self.high_water
    }

    /// Records a sample. Above the mark turns overload on; it goes off again below 90% of the mark, so a
    /// broker hovering at the mark does not flap.
    pub fn record(&self, resident: u64) -> bool {
        self.resident.store(resident, Ordering::Relaxed);
        self.peak.fetch_max(resident, Ordering::Relaxed);
        if self.high_water == 0 {
            return false;
        }
        let was = self.is_over();
        let now = if was { resident > self.high_water / 10 * 9 } else { resident > self.high_water };
        self.over.store(now, Ordering::Relaxed);
        now
    }
}

/// The resident set size of this process, where the platform tells it (Linux: `/proc/self/status`).
pub fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_starts_above_the_mark_and_ends_below_ninety_percent() {
        let w = MemoryWatch::new(1000);
        assert!(!w.record(1000));
        assert!(w.record(1001));
        assert!(w.record(950), "still above 90%: stays on");
        assert!(!w.record(899));
        assert_eq!(w.peak(), 1001);
        assert_eq!(w.resident(), 899);
    }

    #[test]
    fn no_mark_never_overloads() {
        let w = MemoryWatch::new(0);
        assert!(!w.record(u64::MAX));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn resident_memory_is_read_on_linux() {
        assert!(resident_memory().is_some_and(|b| b > 0));
    }
}
