//! Exponential back-off: the one shape every retry in siaga waits by (supplier inquiries,
//! reseller callbacks, notices, queued orders, open circuits, the simulator's callbacks).
//!
//! The shape: the wait after `attempt` earlier tries is `base · growth^attempt`, never
//! above `cap`. Attempt 0 waits `base`; each further attempt waits `growth` times longer,
//! until `cap`. Everything saturates instead of overflowing, and nothing is negative:
//! a negative `attempt` counts as 0, a negative `base` or `cap` as 0. A caller that stops
//! growing after n doublings (whatever the cap) passes `attempt.min(n)`.

/// `base · 2^attempt`, at most `cap` (see the module documentation), in the caller's unit.
pub fn delay(attempt: i64, base: i64, cap: i64) -> i64 {
    delay_by(2, attempt, base, cap)
}

/// As [`delay`], growing `growth` times per attempt instead of doubling (`growth` below 1
/// counts as 1: a constant wait).
pub fn delay_by(growth: i64, attempt: i64, base: i64, cap: i64) -> i64 {
    let n = u32::try_from(attempt.max(0)).unwrap_or(u32::MAX);
    let factor = growth.max(1).saturating_pow(n);
    base.max(0).saturating_mul(factor).min(cap.max(0))
}

/// A `u64` setting (milliseconds) as the `i64` [`delay`] takes; a value beyond `i64` is
/// treated as `i64::MAX` (it caps nothing anyway).
pub fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_base_up_to_the_cap() {
        let waits: Vec<i64> = (0..6).map(|n| delay(n, 100, 1_000)).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn negative_inputs_count_as_zero() {
        assert_eq!(delay(-3, 100, 1_000), 100);
        assert_eq!(delay(2, -100, 1_000), 0);
        assert_eq!(delay(2, 100, -1), 0);
    }

    #[test]
    fn a_base_above_the_cap_waits_the_cap() {
        assert_eq!(delay(0, 5_000, 1_000), 1_000);
    }

    #[test]
    fn huge_attempts_saturate_instead_of_overflowing() {
        assert_eq!(delay(i64::MAX, 1, i64::MAX), i64::MAX);
        assert_eq!(delay(200, 60_000, 600_000), 600_000);
        assert_eq!(delay(63, 0, 1_000), 0);
    }

    #[test]
    fn other_growth_factors() {
        let tripled: Vec<i64> = (0..4).map(|n| delay_by(3, n, 100, i64::MAX)).collect();
        assert_eq!(tripled, [100, 300, 900, 2_700]);
        assert_eq!(delay_by(0, 5, 100, 1_000), 100, "no growth below 1");
    }

    #[test]
    fn settings_in_u64_convert_without_wrapping() {
        assert_eq!(ms(5_000), 5_000);
        assert_eq!(ms(u64::MAX), i64::MAX);
    }
}
