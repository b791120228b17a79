//! What a run costs: CPU time and memory of the generator itself and, with `--broker-pid`, of the broker,
//! read from `/proc/PID/stat` and `/proc/PID/status` (the counters `getrusage` reports, for any process);
//! and the open-file limit a connection storm needs.

use std::time::Instant;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use serde::Serialize;

/// Which process to read: this one or another by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    This,
    Pid(u32),
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Proc::This => format!("/proc/self/{file}"),
            Proc::Pid(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    /// User plus system CPU time so far, in seconds; `None` if the process is gone.
    pub fn cpu_seconds(self) -> Option<f64> {
        let stat = std::fs::read_to_string(self.path("stat")).ok()?;
        // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace();
        // After ')' come state (3), ppid (4) ... utime is field 14, stime field 15.
        let utime: u64 = fields.nth(11)?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some((utime + stime) as f64 / rustix::param::clock_ticks_per_second() as f64)
    }

    /// Resident set size now and at its peak, in KiB.
    pub fn memory_kib(self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(self.path("status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some((field("VmRSS:")?, field("VmHWM:").unwrap_or(0)))
    }

    pub fn exists(self) -> bool {
        std::path::Path::new(&self.path("stat")).exists()
    }
}

/// CPU and memory of one process over a measured interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Usage {
    /// CPU seconds spent in the interval (user + system).
    pub cpu_seconds: f64,
    /// CPU time over wall time: 100 is one core busy.
    pub cpu_percent: f64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

/// The start of a measured interval for one process.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    proc: Proc,
    cpu: f64,
    at: Instant,
}

impl CpuMark {
    pub fn now(proc: Proc) -> Option<CpuMark> {
        Some(CpuMark { proc, cpu: proc.cpu_seconds()?, at: Instant::now() })
    }

    /// Usage since the mark.
    pub fn usage(&self) -> Option<Usage> {
        let cpu_seconds = (self.proc.cpu_seconds()? - self.cpu).max(0.0);
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        let (rss_kib, peak_rss_kib) = self.proc.memory_kib().unwrap_or((0, 0));
        Some(Usage { cpu_seconds, cpu_percent: 100.0 * cpu_seconds / wall, rss_kib, peak_rss_kib })
    }
}

/// Raises the soft open-file limit to at least `wanted` (raising the hard limit too when allowed), or as
/// far as the hard limit goes. Returns the soft limit in force.
pub fn raise_open_files(wanted: u64) -> u64 {
    let current = getrlimit(Resource::Nofile);
    let soft = current.current.unwrap_or(u64::MAX);
    if soft >= wanted {
        return soft;
    }
    let hard = current.maximum.unwrap_or(u64::MAX);
    if hard < wanted
        && setrlimit(Resource::Nofile, Rlimit { current: Some(wanted), maximum: Some(wanted) }).is_ok()
    {
        return wanted;
    }
    let target = wanted.min(hard);
    match setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: current.maximum }) {
        Ok(()) => target,
        Err(_) => soft,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_grows_with_work() {
        let before = Proc::This.cpu_seconds().unwrap();
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed().as_millis() < 60 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = Proc::This.cpu_seconds().unwrap();
        assert!(after > before, "{before} -> {after}");
    }

    #[test]
    fn own_memory_is_reported() {
        let (rss, peak) = Proc::This.memory_kib().unwrap();
        assert!(rss > 0 && peak >= rss);
    }

    #[test]
    fn open_file_limit_is_at_least_what_was_there() {
        let before = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        assert!(raise_open_files(64) >= before.min(64));
    }
}
