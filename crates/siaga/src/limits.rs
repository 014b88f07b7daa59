//! The limiters of one running switch (SPEC 15): GCRA rate limits per API key, per client
//! IP, for the public status page and for subscriptions, the bound on orders taken at once,
//! and the request deadline. A leaf: the HTTP edge's middleware (`http::limit`) applies
//! them, `metrics` names their rejection reasons.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use tokio::sync::Semaphore;

use crate::config::LimitsCfg;

/// Why a request was turned away: the `reason` label of `siaga_http_rejected_total`.
pub const REASONS: [&str; 6] = [
    "rate_limited_key",
    "rate_limited_ip",
    "rate_limited_status",
    "overloaded",
    "timeout",
    "too_large",
];

/// Dashboard sign-in attempts allowed per client address and minute.
const SIGNIN_PER_MIN: u32 = 10;

/// The limiters and the order bound of one running switch.
pub struct Limits {
    pub(crate) per_key: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    pub(crate) per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub(crate) status_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub(crate) status_total: Option<DefaultDirectRateLimiter>,
    pub(crate) subscribe_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Dashboard sign-in attempts per client address (SPEC 13): 10 a minute.
    pub(crate) signin_ip: DefaultKeyedRateLimiter<IpAddr>,
    pub(crate) orders: Arc<Semaphore>,
    pub(crate) request_timeout: Duration,
}

/// A GCRA quota of `per_s` a second with bursts of `burst`; `None` (no limit) when `per_s` is 0.
pub(crate) fn quota(per_s: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_s)?;
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl Limits {
    pub fn new(cfg: &LimitsCfg) -> Limits {
        Limits {
            per_key: quota(cfg.per_key_per_s, cfg.per_key_burst)
                .map(DefaultKeyedRateLimiter::keyed),
            per_ip: quota(cfg.per_ip_per_s, cfg.per_ip_burst).map(DefaultKeyedRateLimiter::keyed),
            status_ip: quota(cfg.status_per_ip_per_s, cfg.status_per_ip_burst)
                .map(DefaultKeyedRateLimiter::keyed),
            status_total: quota(cfg.status_total_per_s, cfg.status_total_burst)
                .map(DefaultDirectRateLimiter::direct),
            subscribe_ip: NonZeroU32::new(cfg.subscribe_per_ip_per_min)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
            signin_ip: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(SIGNIN_PER_MIN).unwrap_or(NonZeroU32::MIN),
            )),
            orders: Arc::new(Semaphore::new(cfg.max_inflight_orders.max(1) as usize)),
            request_timeout: Duration::from_millis(cfg.request_timeout_ms.max(1)),
        }
    }

    /// Whether one more dashboard sign-in attempt from `ip` may be tried now.
    pub fn signin_allowed(&self, ip: Option<IpAddr>) -> bool {
        let ip = ip
            .map(crate::net::key)
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        self.signin_ip.check_key(&ip).is_ok()
    }

    /// Forgets keys whose bucket is full again (indistinguishable from a new key), so a
    /// flood of distinct keys or addresses leaves no memory behind. Called from a timer.
    pub fn upkeep(&self) {
        if let Some(l) = &self.per_key {
            l.retain_recent();
            l.shrink_to_fit();
        }
        for l in [&self.per_ip, &self.status_ip, &self.subscribe_ip]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.signin_ip.retain_recent();
        self.signin_ip.shrink_to_fit();
    }

    /// Keys held by the keyed limiters (for tests and the upkeep log).
    pub fn tracked_keys(&self) -> usize {
        self.per_key.as_ref().map_or(0, |l| l.len())
            + [&self.per_ip, &self.status_ip]
                .into_iter()
                .flatten()
                .map(|l| l.len())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_turns_a_limit_off() {
        assert!(quota(0, 10).is_none());
        assert!(quota(5, 0).is_some());
    }

    #[test]
    fn upkeep_forgets_idle_keys() {
        let limits = Limits::new(&LimitsCfg {
            per_ip_per_s: 1_000_000,
            per_ip_burst: 1,
            ..LimitsCfg::default()
        });
        let l = limits.per_ip.as_ref().unwrap();
        for i in 0..1000u32 {
            let _ = l.check_key(&IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(limits.tracked_keys(), 1000);
        std::thread::sleep(Duration::from_millis(5));
        limits.upkeep();
        assert_eq!(limits.tracked_keys(), 0);
    }
}
