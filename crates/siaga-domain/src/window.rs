//! Maintenance windows (SPEC 6.5): one-off intervals and daily windows in a time zone,
//! with a lead time so routes are skipped *before* a window, not after the first failure.
//!
//! All intervals are half-open, `[start_ms, end_ms)`, in milliseconds since the Unix epoch.
//! The caller resolves time-zone names; this module only takes [`jiff::tz::TimeZone`] values.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Minutes in a day; daily window bounds are in `0..MINUTES_PER_DAY`.
pub const MINUTES_PER_DAY: u16 = 1440;

/// A maintenance window.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// From `start_ms` until `end_ms`. Empty when `end_ms <= start_ms`.
    OneOff { start_ms: i64, end_ms: i64 },
    /// Every day from `start_min` to `end_min` (minutes of the local day, `0..1440`) in `tz`.
    /// `end_min < start_min` crosses midnight (23:45–00:15 ends the next day);
    /// `start_min == end_min` is an empty window; bounds ≥ 1440 make the window empty too.
    ///
    /// Local times that do not exist (a DST gap) are moved forward by the gap's length;
    /// local times that happen twice (a DST fold) take the earlier instant.
    Daily {
        start_min: u16,
        end_min: u16,
        tz: TimeZone,
    },
}

/// Parse a daily window like `"23:45-00:15"` (`HH:MM-HH:MM`, 24-hour clock, spaces around
/// the dash allowed) into `(start_min, end_min)`. Equal bounds parse (an empty window).
pub fn parse_daily(spec: &str) -> Result<(u16, u16), String> {
    let spec = spec.trim();
    let Some((a, b)) = spec.split_once('-') else {
        return Err(format!(
            "daily window {spec:?} must look like HH:MM-HH:MM, e.g. 23:45-00:15"
        ));
    };
    let start = parse_hhmm(a.trim()).map_err(|e| format!("daily window {spec:?}: start {e}"))?;
    let end = parse_hhmm(b.trim()).map_err(|e| format!("daily window {spec:?}: end {e}"))?;
    Ok((start, end))
}

/// `"HH:MM"` → minutes of the day.
fn parse_hhmm(s: &str) -> Result<u16, String> {
    let Some((h, m)) = s.split_once(':') else {
        return Err(format!("{s:?} must be HH:MM"));
    };
    let digits = |x: &str| !x.is_empty() && x.len() <= 2 && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(format!("{s:?} must be HH:MM"));
    }
    let h: u16 = h.parse().map_err(|_| format!("{s:?} must be HH:MM"))?;
    let m: u16 = m.parse().map_err(|_| format!("{s:?} must be HH:MM"))?;
    if h > 23 {
        return Err(format!("{s:?}: hour must be 00 to 23"));
    }
    if m > 59 {
        return Err(format!("{s:?}: minute must be 00 to 59"));
    }
    Ok(h * 60 + m)
}

/// Minutes of the day → `"HH:MM"`.
pub fn format_hhmm(min: u16) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

impl Window {
    /// A daily window from a `"HH:MM-HH:MM"` spec.
    pub fn daily(spec: &str, tz: TimeZone) -> Result<Window, String> {
        let (start_min, end_min) = parse_daily(spec)?;
        Ok(Window::Daily {
            start_min,
            end_min,
            tz,
        })
    }

    /// True if the window never blocks anything.
    pub fn is_empty(&self) -> bool {
        match self {
            Window::OneOff { start_ms, end_ms } => end_ms <= start_ms,
            Window::Daily {
                start_min, end_min, ..
            } => {
                start_min == end_min || *start_min >= MINUTES_PER_DAY || *end_min >= MINUTES_PER_DAY
            }
        }
    }

    /// The occurrence that contains now or comes next: `(start_ms, end_ms)`. `None` for an
    /// empty window or a one-off window that is over. Daily windows are computed in their
    /// time zone, so a DST change moves them with the local clock.
    pub fn current_or_next(&self, now_ms: i64) -> Option<(i64, i64)> {
        if self.is_empty() {
            return None;
        }
        match self {
            Window::OneOff { start_ms, end_ms } => {
                (now_ms < *end_ms).then_some((*start_ms, *end_ms))
            }
            Window::Daily {
                start_min,
                end_min,
                tz,
            } => {
                let now = Timestamp::from_millisecond(now_ms).ok()?;
                let today = tz.to_datetime(now).date();
                // The occurrence starting yesterday may still run (crossing midnight, or a
                // DST shift); the one starting tomorrow is the latest that can be next.
                let mut day = today.yesterday().ok()?;
                for _ in 0..4 {
                    if let Some((s, e)) = occurrence(tz, day, *start_min, *end_min) {
                        if e > now_ms {
                            return Some((s, e));
                        }
                    }
                    day = day.tomorrow().ok()?;
                }
                None
            }
        }
    }

    /// Inside the window, or within `lead_ms` before it starts.
    pub fn blocks(&self, now_ms: i64, lead_ms: i64) -> bool {
        match self.current_or_next(now_ms) {
            Some((start, end)) => now_ms >= start.saturating_sub(lead_ms.max(0)) && now_ms < end,
            None => false,
        }
    }

    /// Inside the window (no lead time).
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.blocks(now_ms, 0)
    }
}

/// The occurrence of a daily window that starts on local `day`, as epoch milliseconds.
fn occurrence(tz: &TimeZone, day: Date, start_min: u16, end_min: u16) -> Option<(i64, i64)> {
    let end_day = if end_min <= start_min {
        day.tomorrow().ok()?
    } else {
        day
    };
    let s = local_ms(tz, day, start_min)?;
    let e = local_ms(tz, end_day, end_min)?;
    (e > s).then_some((s, e))
}

/// Local `day` at `min` minutes past midnight in `tz` (gap: forward; fold: earlier).
fn local_ms(tz: &TimeZone, day: Date, min: u16) -> Option<i64> {
    let h = i8::try_from(min / 60).ok()?;
    let m = i8::try_from(min % 60).ok()?;
    let dt: DateTime = day.at(h, m, 0, 0);
    let ts = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
    Some(ts.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    /// Epoch ms of a UTC wall-clock time.
    fn utc(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
        jiff::civil::date(y, mo, d)
            .at(h, mi, 0, 0)
            .to_zoned(TimeZone::UTC)
            .expect("valid")
            .timestamp()
            .as_millisecond()
    }

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("system tz database")
    }

    #[test]
    fn tz_database_is_there() {
        assert!(TimeZone::get("Asia/Jakarta").is_ok());
        assert!(TimeZone::get("Europe/Berlin").is_ok());
    }

    #[test]
    fn parse() {
        assert_eq!(parse_daily("23:45-00:15"), Ok((23 * 60 + 45, 15)));
        assert_eq!(parse_daily(" 00:00 - 01:30 "), Ok((0, 90)));
        assert_eq!(parse_daily("9:05-10:00"), Ok((545, 600)));
        assert_eq!(parse_daily("01:00-01:00"), Ok((60, 60)));
        for bad in [
            "",
            "23:45",
            "23:45-",
            "24:00-01:00",
            "23:60-00:00",
            "2345-0015",
            "23:4-00:15",
            "aa:bb-cc:dd",
            "-1:00-02:00",
            "23:45-00:15:00",
            "+1:00-02:00",
        ] {
            let err = parse_daily(bad).expect_err(bad);
            assert!(!err.is_empty());
        }
        assert!(parse_daily("24:00-01:00")
            .expect_err("hour")
            .contains("hour must be 00 to 23"));
        assert_eq!(format_hhmm(23 * 60 + 45), "23:45");
        assert_eq!(format_hhmm(5), "00:05");
    }

    #[test]
    fn daily_across_midnight_in_jakarta() {
        let w = Window::daily("23:45-00:15", tz("Asia/Jakarta")).expect("parses");
        // 23:45 WIB = 16:45 UTC; 00:15 WIB = 17:15 UTC.
        let start = utc(2024, 3, 10, 16, 45);
        let end = utc(2024, 3, 10, 17, 15);
        // Midday: the next occurrence is tonight.
        let noon = utc(2024, 3, 10, 5, 0);
        assert_eq!(w.current_or_next(noon), Some((start, end)));
        assert!(!w.is_active(noon));
        // Just before, at, inside (both sides of local midnight), at the end.
        assert!(!w.is_active(start - 1));
        assert!(w.is_active(start));
        assert!(w.is_active(utc(2024, 3, 10, 16, 59)));
        assert!(w.is_active(utc(2024, 3, 10, 17, 0))); // 00:00 WIB
        assert_eq!(
            w.current_or_next(utc(2024, 3, 10, 17, 5)),
            Some((start, end))
        );
        assert!(w.is_active(end - 1));
        assert!(!w.is_active(end));
        // After the end: tomorrow's occurrence.
        assert_eq!(
            w.current_or_next(end),
            Some((start + 24 * HOUR, end + 24 * HOUR))
        );
        // Same results with a fixed UTC+7 zone.
        let fixed = Window::daily("23:45-00:15", TimeZone::fixed(jiff::tz::offset(7))).expect("ok");
        assert_eq!(fixed.current_or_next(noon), Some((start, end)));
    }

    #[test]
    fn lead_time() {
        let w = Window::daily("23:45-00:15", tz("Asia/Jakarta")).expect("parses");
        let start = utc(2024, 3, 10, 16, 45);
        let end = start + 30 * MIN;
        let lead = 10 * MIN;
        assert!(!w.blocks(start - lead - 1, lead));
        assert!(w.blocks(start - lead, lead));
        assert!(w.blocks(start - 1, lead));
        assert!(w.blocks(end - 1, lead));
        assert!(!w.blocks(end, lead));
        assert!(!w.is_active(start - 1));
        // A negative lead is treated as none.
        assert!(!w.blocks(start - 1, -HOUR));
    }

    #[test]
    fn daily_in_berlin_across_dst() {
        let berlin = tz("Europe/Berlin");
        // 02:00-04:00 local. On 2024-03-31 clocks jump 02:00 CET -> 03:00 CEST.
        let w = Window::daily("02:00-04:00", berlin.clone()).expect("parses");
        // Day before (CET, UTC+1): 01:00-03:00 UTC.
        let before = utc(2024, 3, 30, 0, 0);
        assert_eq!(
            w.current_or_next(before),
            Some((utc(2024, 3, 30, 1, 0), utc(2024, 3, 30, 3, 0)))
        );
        // DST day: 02:00 does not exist, moved forward to 03:00 CEST = 01:00 UTC;
        // 04:00 CEST = 02:00 UTC. One hour long.
        let day = utc(2024, 3, 30, 12, 0);
        assert_eq!(
            w.current_or_next(day),
            Some((utc(2024, 3, 31, 1, 0), utc(2024, 3, 31, 2, 0)))
        );
        // Day after (CEST, UTC+2): 00:00-02:00 UTC.
        let after = utc(2024, 3, 31, 12, 0);
        assert_eq!(
            w.current_or_next(after),
            Some((utc(2024, 4, 1, 0, 0), utc(2024, 4, 1, 2, 0)))
        );

        // Autumn: 2024-10-27 03:00 CEST -> 02:00 CET. A window 22:00-06:00 local
        // crossing that night lasts 9 hours.
        let night = Window::daily("22:00-06:00", berlin).expect("parses");
        let (s, e) = night
            .current_or_next(utc(2024, 10, 26, 12, 0))
            .expect("occurs");
        assert_eq!(s, utc(2024, 10, 26, 20, 0)); // 22:00 CEST
        assert_eq!(e, utc(2024, 10, 27, 5, 0)); // 06:00 CET
        assert_eq!(e - s, 9 * HOUR);
        assert!(night.is_active(utc(2024, 10, 27, 1, 30))); // during the repeated hour
    }

    #[test]
    fn daily_in_utc_and_same_day() {
        let w = Window::daily("01:00-02:00", TimeZone::UTC).expect("parses");
        let now = utc(2024, 1, 1, 1, 30);
        assert_eq!(
            w.current_or_next(now),
            Some((utc(2024, 1, 1, 1, 0), utc(2024, 1, 1, 2, 0)))
        );
        assert_eq!(
            w.current_or_next(utc(2024, 1, 1, 2, 0)),
            Some((utc(2024, 1, 2, 1, 0), utc(2024, 1, 2, 2, 0)))
        );
        // Ending at midnight.
        let w = Window::daily("22:00-00:00", TimeZone::UTC).expect("parses");
        assert_eq!(
            w.current_or_next(utc(2024, 1, 1, 23, 0)),
            Some((utc(2024, 1, 1, 22, 0), utc(2024, 1, 2, 0, 0)))
        );
    }

    #[test]
    fn one_off() {
        let w = Window::OneOff {
            start_ms: 1_000,
            end_ms: 2_000,
        };
        assert_eq!(w.current_or_next(0), Some((1_000, 2_000)));
        assert_eq!(w.current_or_next(1_999), Some((1_000, 2_000)));
        assert_eq!(w.current_or_next(2_000), None);
        assert!(!w.is_active(999));
        assert!(w.is_active(1_000));
        assert!(!w.is_active(2_000));
        assert!(w.blocks(900, 100));
        assert!(!w.blocks(899, 100));
        assert!(!w.blocks(2_500, 10_000));
    }

    #[test]
    fn empty_windows() {
        let w = Window::OneOff {
            start_ms: 1_000,
            end_ms: 1_000,
        };
        assert!(w.is_empty());
        assert_eq!(w.current_or_next(0), None);
        assert!(!w.blocks(1_000, 10_000));
        let w = Window::OneOff {
            start_ms: 2_000,
            end_ms: 1_000,
        };
        assert!(!w.blocks(1_500, 10_000));
        let w = Window::daily("03:00-03:00", tz("Asia/Jakarta")).expect("parses");
        assert!(w.is_empty());
        assert_eq!(w.current_or_next(utc(2024, 1, 1, 20, 0)), None);
        assert!(!w.blocks(utc(2024, 1, 1, 20, 0), HOUR));
        let w = Window::Daily {
            start_min: 1440,
            end_min: 10,
            tz: TimeZone::UTC,
        };
        assert_eq!(w.current_or_next(0), None);
    }

    #[test]
    fn out_of_range_time_is_none() {
        let w = Window::daily("01:00-02:00", TimeZone::UTC).expect("parses");
        assert_eq!(w.current_or_next(i64::MAX), None);
        assert!(!w.blocks(i64::MIN, i64::MAX));
    }
}
