//! `MemoryStore` at scale: bytes per record and the slowest single call while
//! the store grows to 2 million records (small results, one hour ttl, so
//! nothing expires).
//!
//! ```text
//! cargo run --release -p idem-core --example memory_scale [records]
//! ```
//!
//! Each call is timed twice: wall clock, and the thread's CPU time (which
//! leaves out the time this thread was preempted by others on a shared
//! machine, but keeps page faults and everything the call itself does).
//!
//! Memory is the growth of the process's resident set (Linux), so the
//! allocator's own overhead counts; the latency log is allocated up front
//! and touched before the first measurement, so it does not.

use std::time::{Duration, Instant};

use idem_core::{Error, Idempotent, MemoryStore};

/// This process's resident set in bytes (Linux), from `/proc/self/statm`.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000_000);
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let store = MemoryStore::new();
    // Allocated and touched (not zeroed, which the kernel maps lazily) up
    // front, so the logs do not count as the store's memory.
    let mut latencies = vec![Duration::from_nanos(1); records as usize];
    let mut cpu_times = latencies.clone();
    latencies.clear();
    cpu_times.clear();
    let before = rss_bytes();
    let checkpoints = [10_000, 100_000, 1_000_000, 2_000_000, records];
    let (mut window_max, mut window_cpu_max) = (Duration::ZERO, Duration::ZERO);
    println!("  records  bytes/record  slowest call since the last line (wall / cpu)");
    rt.block_on(async {
        for n in 0..records {
            let cpu_start = thread_cpu();
            let start = Instant::now();
            Idempotent::new("scale::insert")
                .store(&store)
                .ttl(Duration::from_secs(3600))
                .key("n", &n)
                .run(|| async move { Ok::<u64, Error>(n * 2) })
                .await?;
            let took = start.elapsed();
            let cpu = thread_cpu().saturating_sub(cpu_start);
            latencies.push(took);
            cpu_times.push(cpu);
            window_max = window_max.max(took);
            window_cpu_max = window_cpu_max.max(cpu);
            let done = n + 1;
            if checkpoints.contains(&done) {
                let per_record = rss_bytes().saturating_sub(before) as f64 / done as f64;
                println!(
                    "{done:>9}  {per_record:>12.1}  {window_max:>10.2?} / {window_cpu_max:.2?}"
                );
                (window_max, window_cpu_max) = (Duration::ZERO, Duration::ZERO);
            }
        }
        Ok::<(), Error>(())
    })?;
    assert_eq!(store.len() as u64, records);
    for (what, log) in [("wall", &mut latencies), ("cpu", &mut cpu_times)] {
        let total: Duration = log.iter().sum();
        log.sort_unstable();
        let at = |q: f64| log[((log.len() - 1) as f64 * q) as usize];
        println!(
            "{what:>4}: mean {:.2?}, p50 {:.2?}, p99 {:.2?}, p99.9 {:.2?}, p99.99 {:.2?}, max {:.2?}",
            total / records as u32,
            at(0.5),
            at(0.99),
            at(0.999),
            at(0.9999),
            at(1.0)
        );
    }
    Ok(())
}
