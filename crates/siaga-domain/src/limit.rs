//! The adaptive concurrency limit of one supplier (SPEC 6.4): additive increase,
//! multiplicative decrease (AIMD) on drops and on latency above a target, always within
//! `[min, max]`.
//!
//! The caller counts requests in flight and only sends while that count is below
//! [`AimdLimit::limit`]; after each attempt it reports one sample with [`AimdLimit::on_sample`].

/// The limit a new [`AimdLimit`] starts at (clamped into `[min, max]`).
pub const INITIAL_LIMIT: u32 = 16;

/// Additive increase, multiplicative decrease. The value is kept as `f64` so the
/// additive step (`+1/limit` per good sample, i.e. +1 per `limit` good samples) accumulates.
#[derive(Debug, Clone)]
pub struct AimdLimit {
    value: f64,
    min: u32,
    max: u32,
    latency_target_ms: i64,
}

impl AimdLimit {
    /// A limit between `min` and `max` starting at [`INITIAL_LIMIT`] clamped into that range.
    /// `min` is raised to 1 (a limit of 0 would never let a request through again) and
    /// `max` to `min`. A `latency_target_ms` ≤ 0 disables the latency rule.
    pub fn new(min: u32, max: u32, latency_target_ms: i64) -> AimdLimit {
        let min = min.max(1);
        let max = max.max(min);
        AimdLimit {
            value: f64::from(INITIAL_LIMIT.clamp(min, max)),
            min,
            max,
            latency_target_ms,
        }
    }

    /// Requests that may be in flight at once now.
    pub fn limit(&self) -> u32 {
        // value is kept within [min, max], so the cast cannot truncate out of range.
        let v = self.value.floor();
        if v <= f64::from(self.min) {
            self.min
        } else if v >= f64::from(self.max) {
            self.max
        } else {
            v as u32
        }
    }

    /// The exact internal value (for metrics).
    pub fn value(&self) -> f64 {
        self.value
    }

    pub fn min(&self) -> u32 {
        self.min
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    /// New bounds and latency target (a config reload): the value learnt so far is kept,
    /// clamped into the new range.
    pub fn reconfigure(&mut self, max: u32, latency_target_ms: i64) {
        self.max = max.max(self.min);
        self.latency_target_ms = latency_target_ms;
        self.value = self.value.clamp(f64::from(self.min), f64::from(self.max));
    }

    /// One attempt's result. `dropped` is a timeout / `unknown` / `not_sent` /
    /// `supplier_down`: halve. Latency above the target: ×0.9. Otherwise `+1/limit`.
    pub fn on_sample(&mut self, latency_ms: i64, dropped: bool) {
        let v = if dropped {
            self.value * 0.5
        } else if self.latency_target_ms > 0 && latency_ms > self.latency_target_ms {
            self.value * 0.9
        } else {
            self.value + 1.0 / self.value.max(1.0)
        };
        self.value = if v.is_finite() {
            v.clamp(f64::from(self.min), f64::from(self.max))
        } else {
            f64::from(self.min)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_sixteen_clamped() {
        assert_eq!(AimdLimit::new(1, 100, 1_000).limit(), 16);
        assert_eq!(AimdLimit::new(1, 8, 1_000).limit(), 8);
        assert_eq!(AimdLimit::new(20, 100, 1_000).limit(), 20);
        let l = AimdLimit::new(0, 0, 1_000);
        assert_eq!((l.min(), l.max(), l.limit()), (1, 1, 1));
        let l = AimdLimit::new(10, 5, 1_000);
        assert_eq!((l.min(), l.max(), l.limit()), (10, 10, 10));
    }

    #[test]
    fn drop_halves_and_respects_min() {
        let mut l = AimdLimit::new(2, 100, 1_000);
        l.on_sample(100, true);
        assert_eq!(l.limit(), 8);
        l.on_sample(100, true);
        assert_eq!(l.limit(), 4);
        l.on_sample(100, true);
        l.on_sample(100, true);
        l.on_sample(100, true);
        assert_eq!(l.limit(), 2);
    }

    #[test]
    fn slow_shrinks_by_a_tenth() {
        let mut l = AimdLimit::new(1, 100, 1_000);
        l.on_sample(1_001, false);
        assert!((l.value() - 14.4).abs() < 1e-9);
        assert_eq!(l.limit(), 14);
        // Exactly at the target is not slow.
        let before = l.value();
        l.on_sample(1_000, false);
        assert!(l.value() > before);
    }

    #[test]
    fn additive_increase_one_per_limit_samples() {
        let mut l = AimdLimit::new(1, 100, 1_000);
        // About 16 good samples lift 16 to 17.
        for _ in 0..16 {
            l.on_sample(10, false);
        }
        assert_eq!(l.limit(), 16); // 16 + 16·(≈1/16.5) < 17
        l.on_sample(10, false);
        assert_eq!(l.limit(), 17);
        for _ in 0..10_000 {
            l.on_sample(10, false);
        }
        assert_eq!(l.limit(), 100);
        assert!(l.value() <= 100.0);
    }

    #[test]
    fn no_latency_target() {
        let mut l = AimdLimit::new(1, 100, 0);
        l.on_sample(60_000, false);
        assert!(l.value() > 16.0);
    }

    #[test]
    fn recovers_after_collapse() {
        let mut l = AimdLimit::new(1, 50, 500);
        for _ in 0..20 {
            l.on_sample(0, true);
        }
        assert_eq!(l.limit(), 1);
        for _ in 0..10 {
            l.on_sample(100, false);
        }
        assert!(l.limit() >= 4, "{}", l.limit());
    }

    #[test]
    fn reconfigure_keeps_the_learnt_value_within_the_new_bounds() {
        let mut l = AimdLimit::new(1, 64, 100);
        assert_eq!(l.limit(), INITIAL_LIMIT);
        l.reconfigure(8, 100);
        assert_eq!((l.limit(), l.max()), (8, 8));
        l.reconfigure(64, 100);
        assert_eq!(l.limit(), 8, "a wider range does not jump the value");
    }
}
