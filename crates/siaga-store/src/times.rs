//! How long the store's durable writes take: each `COMMIT` and each sync of the WAL, and
//! for each write where its time went (waiting in the writer's queue, in its transaction up
//! to the end of the `COMMIT`, then waiting for the sync), and each WAL checkpoint, kept as
//! counts in 10 µs steps, so that `siaga bench` can show where an order's latency goes
//! (two durable writes lie on every order's path) without a clock in the tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Width of one step, in microseconds.
const STEP_US: u64 = 10;
/// Steps of [`STEP_US`]: up to 100 ms. One more step after them counts everything longer.
const STEPS: usize = 10_000;

/// Counts of durations in [`STEP_US`] steps plus the overflow step, and their sum in
/// nanoseconds (lock-free; 80 KB).
struct Counts {
    steps: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            steps: (0..=STEPS).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl Counts {
    fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // Past the last step of STEP_US: the overflow step.
        let step = (ns / 1_000 / STEP_US).min(STEPS as u64) as usize;
        if let Some(c) = self.steps.get(step) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Spread {
        Spread {
            steps: self
                .steps
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// One kind of duration at one moment: counts per step (the last one: longer than all
/// the others) and their sum.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spread {
    steps: Vec<u64>,
    sum_ns: u64,
}

impl Spread {
    fn since(&self, earlier: &Spread) -> Spread {
        Spread {
            steps: self
                .steps
                .iter()
                .zip(earlier.steps.iter().chain(std::iter::repeat(&0)))
                .map(|(x, y)| x.saturating_sub(*y))
                .collect(),
            sum_ns: self.sum_ns.saturating_sub(earlier.sum_ns),
        }
    }

    fn count(&self) -> u64 {
        self.steps.iter().sum()
    }

    fn histogram(&self, bounds_us: &[u64]) -> Histogram {
        let le = bounds_us
            .iter()
            .map(|b| {
                // Step i holds [10 i, 10 i + 10) µs: all of it lies at or below `b` when
                // 10 i + 10 <= b (the bounds are multiples of the step). The overflow step
                // lies below no bound.
                let full = ((*b / STEP_US) as usize).min(STEPS);
                let n = self.steps.iter().take(full).sum();
                (*b as f64 / 1e6, n)
            })
            .collect();
        Histogram {
            le,
            sum_seconds: self.sum_ns as f64 / 1e9,
            count: self.count(),
        }
    }
}

/// A cumulative histogram as Prometheus writes one: `(upper bound in seconds, count at or
/// below it)`, then the sum and count of all.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub le: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

/// The writer's and the syncer's running counts (since the store opened).
#[derive(Default)]
pub(crate) struct WriteTimes {
    commit: Counts,
    sync: Counts,
    /// Jobs (store writes) carried by the commits so far.
    jobs: AtomicU64,
    /// Per write: from its hand-over to the writer until its transaction ran it.
    queued: Counts,
    /// Per write: from then until its transaction's `COMMIT` ended.
    in_commit: Counts,
    /// Per write: from the end of its `COMMIT` until the sync covering it ended.
    wait_sync: Counts,
    /// WAL checkpoint passes on the checkpointer's own thread.
    checkpoint: Counts,
    /// Checkpoints the writer ran itself (a WAL the passes could not catch up).
    writer_checkpoint: Counts,
}

impl WriteTimes {
    /// One write's wait in the writer's queue and its time in its transaction.
    pub(crate) fn write(&self, queued: Duration, in_commit: Duration) {
        self.queued.record(queued);
        self.in_commit.record(in_commit);
    }

    /// `n` writes whose commit became durable `d` after its `COMMIT` ended.
    pub(crate) fn synced(&self, n: usize, d: Duration) {
        for _ in 0..n {
            self.wait_sync.record(d);
        }
    }

    /// One `COMMIT` that carried `jobs` writes and took `d`.
    pub(crate) fn commit(&self, jobs: usize, d: Duration) {
        self.commit.record(d);
        self.jobs.fetch_add(jobs as u64, Ordering::Relaxed);
    }

    /// One sync of the WAL (covering one commit or more) that took `d`.
    pub(crate) fn sync(&self, d: Duration) {
        self.sync.record(d);
    }

    /// One checkpoint pass off the writer's path that took `d`.
    pub(crate) fn checkpoint(&self, d: Duration) {
        self.checkpoint.record(d);
    }

    /// One checkpoint the writer ran itself, holding up its next transaction for `d`.
    pub(crate) fn writer_checkpoint(&self, d: Duration) {
        self.writer_checkpoint.record(d);
    }

    pub(crate) fn snapshot(&self) -> WriteTimesSnapshot {
        WriteTimesSnapshot {
            commit: self.commit.snapshot(),
            sync: self.sync.snapshot(),
            jobs: self.jobs.load(Ordering::Relaxed),
            queued: self.queued.snapshot(),
            in_commit: self.in_commit.snapshot(),
            wait_sync: self.wait_sync.snapshot(),
            checkpoint: self.checkpoint.snapshot(),
            writer_checkpoint: self.writer_checkpoint.snapshot(),
        }
    }
}

/// The store's durable-write counts at one moment; [`WriteTimesSnapshot::since`] gives those
/// of a span of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTimesSnapshot {
    commit: Spread,
    sync: Spread,
    jobs: u64,
    queued: Spread,
    in_commit: Spread,
    wait_sync: Spread,
    checkpoint: Spread,
    writer_checkpoint: Spread,
}

impl WriteTimesSnapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &WriteTimesSnapshot) -> WriteTimesSnapshot {
        WriteTimesSnapshot {
            commit: self.commit.since(&earlier.commit),
            sync: self.sync.since(&earlier.sync),
            jobs: self.jobs.saturating_sub(earlier.jobs),
            queued: self.queued.since(&earlier.queued),
            in_commit: self.in_commit.since(&earlier.in_commit),
            wait_sync: self.wait_sync.since(&earlier.wait_sync),
            checkpoint: self.checkpoint.since(&earlier.checkpoint),
            writer_checkpoint: self.writer_checkpoint.since(&earlier.writer_checkpoint),
        }
    }

    /// Write transactions committed.
    pub fn commits(&self) -> u64 {
        self.commit.count()
    }

    /// Syncs of the WAL (each makes one commit or more durable).
    pub fn syncs(&self) -> u64 {
        self.sync.count()
    }

    /// Commit times as a histogram with these upper bounds (µs, multiples of 10).
    pub fn commit_histogram(&self, bounds_us: &[u64]) -> Histogram {
        self.commit.histogram(bounds_us)
    }

    /// As [`Self::commit_histogram`], for syncs.
    pub fn sync_histogram(&self, bounds_us: &[u64]) -> Histogram {
        self.sync.histogram(bounds_us)
    }

    /// Store writes carried by those commits.
    pub fn jobs(&self) -> u64 {
        self.jobs
    }

    /// The `q` quantile (0..=1) of commit times in milliseconds (upper end of its 10 µs
    /// step; 100 ms stands for "100 ms or more"); `None` without commits.
    pub fn commit_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.commit.steps, q)
    }

    /// As [`Self::commit_ms`], for syncs.
    pub fn sync_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.sync.steps, q)
    }

    /// As [`Self::commit_ms`], per write: its wait in the writer's queue.
    pub fn queued_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.queued.steps, q)
    }

    /// As [`Self::commit_ms`], per write: from its start in its transaction to the end of
    /// the `COMMIT` (the jobs before it in the transaction, its own, the `COMMIT`).
    pub fn in_commit_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.in_commit.steps, q)
    }

    /// As [`Self::commit_ms`], per write: from the end of its `COMMIT` until it was
    /// durable (the sync in progress, then its own).
    pub fn wait_sync_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.wait_sync.steps, q)
    }

    /// WAL checkpoint passes off the writer's path, and the checkpoints the writer ran
    /// itself (each held up its next transaction).
    pub fn checkpoints(&self) -> (u64, u64) {
        (self.checkpoint.count(), self.writer_checkpoint.count())
    }

    /// As [`Self::commit_ms`], for checkpoint passes off the writer's path.
    pub fn checkpoint_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.checkpoint.steps, q)
    }

    /// As [`Self::commit_ms`], for checkpoints the writer ran itself.
    pub fn writer_checkpoint_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.writer_checkpoint.steps, q)
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
            // The overflow step says only "longer than the last": its lower end.
            let end = (i as u64 + 1).min(STEPS as u64) * STEP_US;
            return Some(end as f64 / 1000.0);
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
        // Beyond 100 ms: "100 ms or more".
        assert_eq!(span.sync_ms(0.5), Some(100.0));
        // A later span leaves out what came before it.
        let mid = t.snapshot();
        t.commit(1, Duration::from_micros(2_000));
        let later = t.snapshot().since(&mid);
        assert_eq!((later.commits(), later.jobs()), (1, 1));
        assert_eq!(later.commit_ms(0.5), Some(2.01));
    }

    #[test]
    fn each_writes_queue_commit_and_sync_times_are_counted_apart() {
        let t = WriteTimes::default();
        let before = t.snapshot();
        t.write(Duration::from_micros(1_500), Duration::from_micros(300));
        t.write(Duration::from_micros(2_500), Duration::from_micros(700));
        t.synced(2, Duration::from_micros(900));
        let span = t.snapshot().since(&before);
        assert_eq!(span.queued_ms(0.5), Some(1.51));
        assert_eq!(span.queued_ms(1.0), Some(2.51));
        assert_eq!(span.in_commit_ms(1.0), Some(0.71));
        assert_eq!(span.wait_sync_ms(0.5), Some(0.91));
        assert_eq!(span.commits(), 0, "writes are not commits");
    }

    #[test]
    fn histograms_count_at_or_below_each_bound_with_the_exact_sum() {
        let t = WriteTimes::default();
        for us in [5, 99, 100, 250, 1_000, 150_000] {
            t.sync(Duration::from_micros(us));
        }
        let h = t.snapshot().sync_histogram(&[100, 250, 1_000, 100_000]);
        // A duration exactly on a bound (100, 250 and 1,000 µs here) counts in the bucket
        // above it: the 10 µs step that holds it reaches past the bound. That errs towards
        // slower, never faster. 150 ms is in no bucket but +Inf (the count).
        assert_eq!(h.le, vec![(0.0001, 2), (0.00025, 3), (0.001, 4), (0.1, 5)]);
        assert_eq!(h.count, 6);
        assert!(
            (h.sum_seconds - 0.151_454).abs() < 1e-12,
            "{}",
            h.sum_seconds
        );
        // Sub-microsecond parts are kept in the sum.
        let t = WriteTimes::default();
        for _ in 0..1_000 {
            t.sync(Duration::from_nanos(1_500));
        }
        let h = t.snapshot().sync_histogram(&[100]);
        assert!((h.sum_seconds - 0.0015).abs() < 1e-12, "{}", h.sum_seconds);
    }
}
