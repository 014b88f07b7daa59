//! How long the store's durable writes take: each `COMMIT` and each sync of the WAL, kept as
//! counts in 10 µs steps, so that `siaga bench` can show where an order's latency goes
//! (two durable writes lie on every order's path) without a clock in the tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Width of one step, in microseconds.
const STEP_US: u64 = 10;
/// Steps kept: up to 100 ms; anything longer is counted in the last one.
const STEPS: usize = 10_000;

/// Counts of durations in [`STEP_US`] steps (lock-free; 80 KB).
struct Counts {
    steps: Box<[AtomicU64]>,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            steps: (0..STEPS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Counts {
    fn record(&self, d: Duration) {
        let step = (d.as_micros() as u64 / STEP_US).min(STEPS as u64 - 1) as usize;
        if let Some(c) = self.steps.get(step) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> Vec<u64> {
        self.steps
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

/// The writer's and the syncer's running counts (since the store opened).
#[derive(Default)]
pub(crate) struct WriteTimes {
    commit: Counts,
    sync: Counts,
    /// Jobs (store writes) carried by the commits so far.
    jobs: AtomicU64,
}

impl WriteTimes {
    /// One `COMMIT` that carried `jobs` writes and took `d`.
    pub(crate) fn commit(&self, jobs: usize, d: Duration) {
        self.commit.record(d);
        self.jobs.fetch_add(jobs as u64, Ordering::Relaxed);
    }

    /// One sync of the WAL (covering one commit or more) that took `d`.
    pub(crate) fn sync(&self, d: Duration) {
        self.sync.record(d);
    }

    pub(crate) fn snapshot(&self) -> WriteTimesSnapshot {
        WriteTimesSnapshot {
            commit: self.commit.snapshot(),
            sync: self.sync.snapshot(),
            jobs: self.jobs.load(Ordering::Relaxed),
        }
    }
}

/// The store's durable-write counts at one moment; [`WriteTimesSnapshot::since`] gives those
/// of a span of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTimesSnapshot {
    commit: Vec<u64>,
    sync: Vec<u64>,
    jobs: u64,
}

impl WriteTimesSnapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &WriteTimesSnapshot) -> WriteTimesSnapshot {
        let minus = |a: &[u64], b: &[u64]| -> Vec<u64> {
            a.iter()
                .zip(b.iter().chain(std::iter::repeat(&0)))
                .map(|(x, y)| x.saturating_sub(*y))
                .collect()
        };
        WriteTimesSnapshot {
            commit: minus(&self.commit, &earlier.commit),
            sync: minus(&self.sync, &earlier.sync),
            jobs: self.jobs.saturating_sub(earlier.jobs),
        }
    }

    /// Write transactions committed.
    pub fn commits(&self) -> u64 {
        self.commit.iter().sum()
    }

    /// Syncs of the WAL (each makes one commit or more durable).
    pub fn syncs(&self) -> u64 {
        self.sync.iter().sum()
    }

    /// Store writes carried by those commits.
    pub fn jobs(&self) -> u64 {
        self.jobs
    }

    /// The `q` quantile (0..=1) of commit times in milliseconds (upper end of its 10 µs
    /// step); `None` without commits.
    pub fn commit_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.commit, q)
    }

    /// As [`Self::commit_ms`], for syncs.
    pub fn sync_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.sync, q)
    }
}

fn quantile_ms(steps: &[u64], q: f64) -> Option<f64> {
    let total: u64 = steps.iter().sum();
    if total == 0 {
        return None;
    }
    // The smallest step at or below which at least q of the counts lie (at least one).
    let want = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, n) in steps.iter().enumerate() {
        seen += n;
        if seen >= want {
            return Some(((i as u64 + 1) * STEP_US) as f64 / 1000.0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_counts_of_the_span_asked() {
        let t = WriteTimes::default();
        let before = t.snapshot();
        assert_eq!(before.commit_ms(0.5), None);
        for us in [5, 15, 25, 35, 45, 55, 65, 75, 85, 995] {
            t.commit(3, Duration::from_micros(us));
        }
        t.sync(Duration::from_secs(1));
        let span = t.snapshot().since(&before);
        assert_eq!(span.commits(), 10);
        assert_eq!(span.jobs(), 30);
        assert_eq!(span.syncs(), 1);
        // 5 µs lies in the first 10 µs step; the median is the fifth value (45 µs).
        assert_eq!(span.commit_ms(0.0), Some(0.01));
        assert_eq!(span.commit_ms(0.5), Some(0.05));
        assert_eq!(span.commit_ms(0.99), Some(1.0));
        // Beyond 100 ms everything is counted in the last step.
        assert_eq!(span.sync_ms(0.5), Some(100.0));
        // A later span leaves out what came before it.
        let mid = t.snapshot();
        t.commit(1, Duration::from_micros(2_000));
        let later = t.snapshot().since(&mid);
        assert_eq!((later.commits(), later.jobs()), (1, 1));
        assert_eq!(later.commit_ms(0.5), Some(2.01));
    }
}
