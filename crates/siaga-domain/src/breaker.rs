//! The circuit breaker of one supplier (SPEC 6.4): closed → open → half-open → closed.
//!
//! Pure state machine: the caller passes the time (`now_ms`, milliseconds since the Unix
//! epoch) and each observation; every change of state comes back as a [`Transition`] with
//! human evidence text, for the caller to persist and announce.
//!
//! Rules:
//! - **Closed** opens after `consecutive_failures` health failures in a row, or when at least
//!   `min_samples` of the last `window_attempts` attempts within `window_ms` are recorded and
//!   the share of health failures among them is ≥ `failure_rate`.
//! - **Open** refuses every attempt until its back-off has elapsed, then becomes
//!   **HalfOpen** (observed by [`Breaker::state`] or [`Breaker::try_acquire`]).
//!   The back-off is `open_base_ms`, doubled on each failed trial, capped at `open_max_ms`.
//! - **HalfOpen** lets exactly one trial attempt through. Its success closes the breaker
//!   (and resets the back-off); its failure opens it again with a doubled back-off.
//!
//! Attempt results recorded while Open are ignored: they belong to attempts started before
//! the breaker opened and the breaker has already acted on the supplier's health. While
//! HalfOpen, any recorded attempt result settles the trial (it is fresh evidence either way).
//! Active probes only count while Closed: a failed probe is a health failure, a successful
//! probe breaks a run of consecutive failures (it does not enter the attempt-rate window).
//! A successful probe never closes an open breaker — only a trial attempt does.

use std::collections::VecDeque;

/// Where a supplier's breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Traffic flows.
    Closed,
    /// No traffic until the back-off has elapsed.
    Open,
    /// One trial attempt may go through.
    HalfOpen,
}

impl BreakerState {
    pub const ALL: &'static [BreakerState] = &[
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    pub fn parse(s: &str) -> Option<BreakerState> {
        match s {
            "closed" => Some(BreakerState::Closed),
            "open" => Some(BreakerState::Open),
            "half_open" => Some(BreakerState::HalfOpen),
            _ => None,
        }
    }
}

impl std::fmt::Display for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds of a breaker. [`Default`] gives the values of SPEC 6.4.
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    /// Health failures in a row that open the breaker (3).
    pub consecutive_failures: u32,
    /// Most recent attempts the failure rate looks at (20).
    pub window_attempts: usize,
    /// How far back the failure rate looks, in ms (30 000).
    pub window_ms: i64,
    /// Share of health failures in the window that opens the breaker (0.5).
    pub failure_rate: f64,
    /// Attempts needed in the window before the rate counts (10).
    pub min_samples: usize,
    /// First back-off while open, in ms (5 000).
    pub open_base_ms: i64,
    /// Longest back-off, in ms (300 000).
    pub open_max_ms: i64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            consecutive_failures: 3,
            window_attempts: 20,
            window_ms: 30_000,
            failure_rate: 0.5,
            min_samples: 10,
            open_base_ms: 5_000,
            open_max_ms: 300_000,
        }
    }
}

/// A change of breaker state, with the evidence for it in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub at_ms: i64,
    pub reason: String,
}

/// The circuit breaker of one supplier. See the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: BreakerState,
    /// Health failures in a row (Closed only).
    consecutive: u32,
    /// Recent attempts as (at_ms, health_failure), oldest first (Closed only).
    window: VecDeque<(i64, bool)>,
    /// When the current open period ends (Open only).
    open_until: Option<i64>,
    /// The back-off of the current (or last) open period.
    backoff_ms: i64,
    /// Times opened since the breaker was last closed; drives the doubling.
    opens: u32,
    /// A HalfOpen trial permit has been handed out and not yet reported.
    trial_out: bool,
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Breaker {
        Breaker {
            cfg,
            state: BreakerState::Closed,
            consecutive: 0,
            window: VecDeque::new(),
            open_until: None,
            backoff_ms: 0,
            opens: 0,
            trial_out: false,
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.cfg
    }

    /// The state at `now_ms`. An Open breaker whose back-off has elapsed becomes HalfOpen
    /// here, and that change is returned.
    pub fn state(&mut self, now_ms: i64) -> (BreakerState, Option<Transition>) {
        let mut transition = None;
        if self.state == BreakerState::Open {
            if let Some(until) = self.open_until {
                if now_ms >= until {
                    let reason = format!("back-off of {} elapsed", fmt_duration(self.backoff_ms));
                    self.open_until = None;
                    self.trial_out = false;
                    transition = Some(self.go(BreakerState::HalfOpen, now_ms, reason));
                }
            }
        }
        (self.state, transition)
    }

    /// The state as last observed, without advancing time.
    pub fn current(&self) -> BreakerState {
        self.state
    }

    /// May an attempt be sent now? Closed: yes. Open: no. HalfOpen: yes for exactly one
    /// trial until that trial's result is recorded (or the permit released).
    pub fn try_acquire(&mut self, now_ms: i64) -> (bool, Option<Transition>) {
        let (state, transition) = self.state(now_ms);
        let ok = match state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                if self.trial_out {
                    false
                } else {
                    self.trial_out = true;
                    true
                }
            }
        };
        (ok, transition)
    }

    /// The trial permit was taken but no request was sent: let another trial through.
    pub fn release_trial(&mut self) {
        if self.state == BreakerState::HalfOpen {
            self.trial_out = false;
        }
    }

    /// Record an attempt's result. `health_failure` is true for `not_sent`,
    /// `supplier_down` and `unknown` outcomes (SPEC 6.4).
    pub fn record(&mut self, now_ms: i64, health_failure: bool) -> Option<Transition> {
        match self.state {
            BreakerState::Open => None,
            BreakerState::HalfOpen => {
                self.trial_out = false;
                if health_failure {
                    self.opens = self.opens.saturating_add(1);
                    Some(self.open(now_ms, "trial attempt failed".to_string()))
                } else {
                    self.opens = 0;
                    self.consecutive = 0;
                    self.window.clear();
                    Some(self.go(
                        BreakerState::Closed,
                        now_ms,
                        "trial attempt succeeded".to_string(),
                    ))
                }
            }
            BreakerState::Closed => {
                self.window.push_back((now_ms, health_failure));
                self.prune(now_ms);
                if health_failure {
                    self.consecutive = self.consecutive.saturating_add(1);
                } else {
                    self.consecutive = 0;
                }
                self.check_closed(now_ms)
            }
        }
    }

    /// Record an active probe (balance check). Only counts while Closed: a failed probe is
    /// a health failure toward the consecutive count, a successful one ends a run of them.
    ///
    /// In HalfOpen with no trial attempt out, a probe *is* the trial: success closes the
    /// circuit, failure reopens it with a doubled back-off. A supplier without traffic can
    /// thus recover (and show as healthy) without risking an order on it.
    pub fn record_probe(&mut self, now_ms: i64, ok: bool) -> Option<Transition> {
        if self.state == BreakerState::HalfOpen && !self.trial_out {
            return if ok {
                self.opens = 0;
                self.consecutive = 0;
                self.window.clear();
                Some(self.go(
                    BreakerState::Closed,
                    now_ms,
                    "probe succeeded after the back-off".to_string(),
                ))
            } else {
                self.opens = self.opens.saturating_add(1);
                Some(self.open(now_ms, "probe failed after the back-off".to_string()))
            };
        }
        if self.state != BreakerState::Closed {
            return None;
        }
        if ok {
            self.consecutive = 0;
            None
        } else {
            self.consecutive = self.consecutive.saturating_add(1);
            self.prune(now_ms);
            self.check_closed(now_ms)
        }
    }

    /// Takes the state another node saw (SPEC 12: breaker state is shared through the
    /// store), as if this breaker had seen it: Open starts a back-off of its own (doubled
    /// like a re-open), HalfOpen lets one trial through, Closed forgets the failures.
    /// `None` when it already is in that state.
    pub fn adopt(&mut self, to: BreakerState, now_ms: i64, seen_by: &str) -> Option<Transition> {
        if self.state == to {
            return None;
        }
        let reason = format!("{} (seen by node {seen_by})", to.as_str());
        Some(match to {
            BreakerState::Open => {
                self.opens = self.opens.saturating_add(1);
                self.open(now_ms, reason)
            }
            BreakerState::HalfOpen => {
                self.open_until = None;
                self.trial_out = false;
                self.go(BreakerState::HalfOpen, now_ms, reason)
            }
            BreakerState::Closed => {
                self.opens = 0;
                self.consecutive = 0;
                self.window.clear();
                self.trial_out = false;
                self.open_until = None;
                self.go(BreakerState::Closed, now_ms, reason)
            }
        })
    }

    /// When the current open period ends; `None` unless Open.
    pub fn open_until(&self) -> Option<i64> {
        if self.state == BreakerState::Open {
            self.open_until
        } else {
            None
        }
    }

    /// Health failures in a row so far (Closed).
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive
    }

    /// (failures, attempts) in the rate window as of the last observation (Closed).
    pub fn window_counts(&self) -> (usize, usize) {
        let failed = self.window.iter().filter(|(_, f)| *f).count();
        (failed, self.window.len())
    }

    fn check_closed(&mut self, now_ms: i64) -> Option<Transition> {
        let need = self.cfg.consecutive_failures.max(1);
        if self.consecutive >= need {
            self.opens = 1;
            let reason = format!("{} consecutive health failures", self.consecutive);
            return Some(self.open(now_ms, reason));
        }
        let (failed, total) = self.window_counts();
        if total > 0 && total >= self.cfg.min_samples {
            let rate = failed as f64 / total as f64;
            if rate >= self.cfg.failure_rate {
                self.opens = 1;
                let reason = format!(
                    "{failed} of {total} attempts failed in {}",
                    fmt_duration(self.cfg.window_ms)
                );
                return Some(self.open(now_ms, reason));
            }
        }
        None
    }

    /// Drop attempts outside the window (older than `window_ms`, beyond `window_attempts`).
    fn prune(&mut self, now_ms: i64) {
        let oldest = now_ms.saturating_sub(self.cfg.window_ms);
        while let Some(&(at, _)) = self.window.front() {
            if at <= oldest {
                self.window.pop_front();
            } else {
                break;
            }
        }
        let cap = self.cfg.window_attempts.max(1);
        while self.window.len() > cap {
            self.window.pop_front();
        }
    }

    /// Open with the back-off for `self.opens` (1 = base, 2 = doubled, ...).
    fn open(&mut self, now_ms: i64, reason: String) -> Transition {
        self.backoff_ms = backoff(&self.cfg, self.opens);
        self.open_until = Some(now_ms.saturating_add(self.backoff_ms));
        self.consecutive = 0;
        self.window.clear();
        self.trial_out = false;
        self.go(BreakerState::Open, now_ms, reason)
    }

    fn go(&mut self, to: BreakerState, at_ms: i64, reason: String) -> Transition {
        let from = self.state;
        self.state = to;
        Transition {
            from,
            to,
            at_ms,
            reason,
        }
    }
}

/// `open_base_ms · 2^(opens−1)`, capped at `open_max_ms` (never below 0).
fn backoff(cfg: &BreakerConfig, opens: u32) -> i64 {
    crate::backoff::delay(i64::from(opens) - 1, cfg.open_base_ms, cfg.open_max_ms)
}

/// "5 s", "1.5 s", "250 ms", "5 min".
fn fmt_duration(ms: i64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms % 60_000 == 0 && ms >= 120_000 {
        format!("{} min", ms / 60_000)
    } else if ms % 1_000 == 0 {
        format!("{} s", ms / 1_000)
    } else {
        format!("{:.1} s", ms as f64 / 1_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig::default())
    }

    #[test]
    fn names() {
        for s in BreakerState::ALL {
            assert_eq!(BreakerState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
        assert_eq!(BreakerState::parse("half-open"), None);
    }

    #[test]
    fn a_state_seen_by_another_node_is_taken_as_its_own() {
        let mut b = breaker();
        assert_eq!(b.adopt(BreakerState::Closed, 0, "n2"), None);
        let t = b.adopt(BreakerState::Open, 1_000, "n2").expect("opens");
        assert_eq!((t.from, t.to), (BreakerState::Closed, BreakerState::Open));
        assert!(t.reason.contains("n2"), "{}", t.reason);
        assert!(!b.try_acquire(1_001).0);
        // Its own back-off runs out as if it had opened by itself.
        let until = b.open_until().expect("open until");
        assert!(until > 1_000);
        assert_eq!(b.adopt(BreakerState::Open, 2_000, "n3"), None);
        let t = b
            .adopt(BreakerState::HalfOpen, 2_000, "n2")
            .expect("half open");
        assert_eq!(t.to, BreakerState::HalfOpen);
        assert!(b.try_acquire(2_001).0, "one trial");
        assert!(!b.try_acquire(2_002).0, "only one trial");
        let t = b.adopt(BreakerState::Closed, 3_000, "n2").expect("closes");
        assert_eq!(t.to, BreakerState::Closed);
        assert!(b.try_acquire(3_001).0);
        assert_eq!(b.consecutive_failures(), 0);
    }

    #[test]
    fn opens_after_three_consecutive_failures() {
        let mut b = breaker();
        assert_eq!(b.record(1_000, true), None);
        assert_eq!(b.record(2_000, true), None);
        let t = b.record(3_000, true).expect("opens");
        assert_eq!(t.from, BreakerState::Closed);
        assert_eq!(t.to, BreakerState::Open);
        assert_eq!(t.at_ms, 3_000);
        assert_eq!(t.reason, "3 consecutive health failures");
        assert_eq!(b.open_until(), Some(8_000));
        assert_eq!(b.try_acquire(3_001), (false, None));
    }

    #[test]
    fn success_breaks_the_run() {
        let mut b = breaker();
        b.record(1, true);
        b.record(2, true);
        assert_eq!(b.record(3, false), None);
        b.record(4, true);
        b.record(5, true);
        assert_eq!(b.state(6).0, BreakerState::Closed);
        assert!(b.record(7, true).is_some());
    }

    #[test]
    fn opens_on_failure_rate() {
        let mut b = breaker();
        // Alternate: never 3 in a row, 50 % failures.
        let mut t = None;
        for i in 0..10 {
            t = b.record(i * 100, i % 2 == 0);
            if i < 9 {
                assert_eq!(t, None, "at {i}");
            }
        }
        let t = t.expect("opens at 10 samples");
        assert_eq!(t.reason, "5 of 10 attempts failed in 30 s");
        assert_eq!(b.current(), BreakerState::Open);
    }

    #[test]
    fn rate_needs_min_samples_and_respects_window() {
        let mut b = breaker();
        // 9 attempts, 4 failures: below min_samples, nothing.
        for i in 0..9 {
            assert_eq!(b.record(i, i % 2 == 1 && i < 8), None);
        }
        // Much later: the old attempts fell out of the 30 s window.
        assert_eq!(b.record(100_000, true), None);
        assert_eq!(b.window_counts(), (1, 1));
    }

    #[test]
    fn rate_counts_only_last_window_attempts() {
        let mut b = breaker();
        // 12 successes then alternate; the 20-attempt cap keeps the window recent.
        for i in 0..12 {
            b.record(i, false);
        }
        let mut opened = None;
        for i in 12..40 {
            if let Some(t) = b.record(i, i % 2 == 0) {
                opened = Some((i, t));
                break;
            }
        }
        let (i, t) = opened.expect("opens");
        // Window of 20 reaches 10 failures when the 12 successes have scrolled out enough.
        assert_eq!(t.reason, "10 of 20 attempts failed in 30 s");
        assert!(i >= 30, "opened at {i}");
    }

    #[test]
    fn half_open_after_backoff_one_trial() {
        let mut b = breaker();
        for i in 0..3 {
            b.record(i, true);
        }
        assert_eq!(b.open_until(), Some(5_002));
        assert_eq!(b.state(5_001), (BreakerState::Open, None));
        let (s, t) = b.state(5_002);
        assert_eq!(s, BreakerState::HalfOpen);
        let t = t.expect("half-open transition");
        assert_eq!(t.reason, "back-off of 5 s elapsed");
        assert_eq!((t.from, t.to), (BreakerState::Open, BreakerState::HalfOpen));
        assert_eq!(b.open_until(), None);
        // One trial only.
        assert_eq!(b.try_acquire(5_003), (true, None));
        assert_eq!(b.try_acquire(5_004), (false, None));
        // Trial not sent: another may go.
        b.release_trial();
        assert_eq!(b.try_acquire(5_005), (true, None));
        assert_eq!(b.try_acquire(5_006), (false, None));
        let t = b.record(5_500, false).expect("closes");
        assert_eq!(t.reason, "trial attempt succeeded");
        assert_eq!(t.to, BreakerState::Closed);
        assert_eq!(b.try_acquire(5_600), (true, None));
        assert_eq!(b.try_acquire(5_601), (true, None));
    }

    #[test]
    fn try_acquire_reports_the_half_open_transition() {
        let mut b = breaker();
        for i in 0..3 {
            b.record(i, true);
        }
        let (ok, t) = b.try_acquire(10_000);
        assert!(ok);
        assert_eq!(t.map(|t| t.to), Some(BreakerState::HalfOpen));
    }

    #[test]
    fn failed_trials_double_backoff_up_to_cap_and_success_resets() {
        let mut b = breaker();
        for i in 0..3 {
            b.record(i, true);
        }
        let mut now = 2;
        let mut expected = 5_000;
        for _ in 0..10 {
            let until = b.open_until().expect("open");
            assert_eq!(until - now, expected);
            now = until;
            assert!(b.try_acquire(now).0);
            let t = b.record(now + 10, true).expect("reopens");
            assert_eq!(t.reason, "trial attempt failed");
            assert_eq!((t.from, t.to), (BreakerState::HalfOpen, BreakerState::Open));
            now += 10;
            expected = (expected * 2).min(300_000);
        }
        assert_eq!(b.open_until(), Some(now + 300_000));
        // Recover.
        now += 300_000;
        assert!(b.try_acquire(now).0);
        assert!(b.record(now + 1, false).is_some());
        // Next opening starts at the base back-off again.
        for i in 0..3 {
            b.record(now + 2 + i, true);
        }
        assert_eq!(b.open_until(), Some(now + 4 + 5_000));
    }

    #[test]
    fn results_while_open_are_ignored() {
        let mut b = breaker();
        for i in 0..3 {
            b.record(i, true);
        }
        assert_eq!(b.record(10, false), None);
        assert_eq!(b.record(11, true), None);
        assert_eq!(b.current(), BreakerState::Open);
        assert_eq!(b.open_until(), Some(5_002));
    }

    #[test]
    fn probes() {
        let mut b = breaker();
        assert_eq!(b.record_probe(0, false), None);
        assert_eq!(b.record(1, true), None);
        let t = b.record_probe(2, false).expect("opens");
        assert_eq!(t.reason, "3 consecutive health failures");
        // A successful probe does not close an open breaker; in half-open with a trial
        // attempt out, the trial decides (probe_is_the_trial_in_half_open covers the rest).
        assert_eq!(b.record_probe(3, true), None);
        assert_eq!(b.current(), BreakerState::Open);
        assert_eq!(b.state(10_000).0, BreakerState::HalfOpen);
        assert!(b.try_acquire(10_001).0);
        assert_eq!(b.record_probe(10_002, true), None);
        assert_eq!(b.record_probe(10_002, false), None);
        assert_eq!(b.current(), BreakerState::HalfOpen);
        assert_eq!(
            b.record(10_004, false).map(|t| t.to),
            Some(BreakerState::Closed)
        );
        // A good probe ends a run of failures.
        b.record(20_000, true);
        b.record(20_001, true);
        assert_eq!(b.record_probe(20_002, true), None);
        assert_eq!(b.record(20_003, true), None);
        assert_eq!(b.current(), BreakerState::Closed);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(5_000), "5 s");
        assert_eq!(fmt_duration(1_500), "1.5 s");
        assert_eq!(fmt_duration(250), "250 ms");
        assert_eq!(fmt_duration(60_000), "60 s");
        assert_eq!(fmt_duration(300_000), "5 min");
    }

    #[test]
    fn odd_config_is_safe() {
        let mut b = Breaker::new(BreakerConfig {
            consecutive_failures: 0,
            window_attempts: 0,
            window_ms: 0,
            failure_rate: 2.0,
            min_samples: 0,
            open_base_ms: -5,
            open_max_ms: -1,
        });
        let t = b.record(0, true).expect("opens on the first failure");
        assert_eq!(t.to, BreakerState::Open);
        assert_eq!(b.open_until(), Some(0));
        assert_eq!(b.state(0).0, BreakerState::HalfOpen);
    }

    #[test]
    fn probe_is_the_trial_in_half_open() {
        let cfg = BreakerConfig {
            open_base_ms: 1_000,
            open_max_ms: 8_000,
            ..BreakerConfig::default()
        };
        let mut b = Breaker::new(cfg);
        for t in 0..3 {
            b.record(t, true);
        }
        assert_eq!(b.state(10).0, BreakerState::Open);
        assert_eq!(
            b.record_probe(20, true),
            None,
            "a probe while open changes nothing"
        );
        assert_eq!(b.state(1_010).0, BreakerState::HalfOpen);
        let t = b.record_probe(1_020, false).unwrap();
        assert_eq!(t.to, BreakerState::Open);
        assert_eq!(b.open_until(), Some(1_020 + 2_000), "back-off doubled");
        assert_eq!(b.state(3_100).0, BreakerState::HalfOpen);
        assert_eq!(
            b.record_probe(3_200, true).unwrap().to,
            BreakerState::Closed
        );
        // with a trial attempt out, the trial decides
        for t in 4_000..4_003 {
            b.record(t, true);
        }
        assert_eq!(b.state(6_000).0, BreakerState::HalfOpen);
        assert!(b.try_acquire(6_001).0);
        assert_eq!(b.record_probe(6_002, true), None);
        assert_eq!(b.record(6_003, false).unwrap().to, BreakerState::Closed);
    }

    #[test]
    fn open_back_off_matches_the_former_doubling_loop() {
        // The former loop: base clamped to [0, max], doubled (opens − 1) times, capped.
        fn old(base: i64, max: i64, opens: u32) -> i64 {
            let max = max.max(0);
            let mut ms = base.clamp(0, max);
            for _ in 1..opens {
                ms = ms.saturating_mul(2).min(max);
            }
            ms
        }
        for (base, max) in [(5_000, 300_000), (0, 10), (700, 100), (-5, 100), (5, -1)] {
            let cfg = BreakerConfig {
                open_base_ms: base,
                open_max_ms: max,
                ..BreakerConfig::default()
            };
            for opens in 0..70 {
                assert_eq!(
                    backoff(&cfg, opens),
                    old(base, max, opens),
                    "{base} {max} {opens}"
                );
            }
        }
    }
}
