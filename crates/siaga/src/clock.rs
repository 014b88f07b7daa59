//! The clock comes in as a value so tests and the domain never read the system time
//! behind the caller's back.

use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        jiff::Timestamp::now().as_millisecond()
    }
}

/// A clock tests move by hand.
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(ms))
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 UTC with second precision, as in the order JSON.
pub fn rfc3339(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => "1970-01-01T00:00:00Z".into(),
    }
}

/// The end of the times a parameter may name: 9999-01-01T00:00:00Z, exclusive (four year
/// digits, as RFC 3339 has, and inside what the clock can show). The first is the epoch.
pub const END_SECOND: i64 = 253_370_764_800;

/// Parses RFC 3339 or unix seconds into milliseconds; `None` for anything before 1970 or
/// from the year 9999 on (such a time could only be shown as a lie).
pub fn parse_time(s: &str) -> Option<i64> {
    let ms = match s.parse::<i64>() {
        Ok(secs) => secs.checked_mul(1000)?,
        Err(_) => s.parse::<jiff::Timestamp>().ok()?.as_millisecond(),
    };
    (0..END_SECOND * 1000).contains(&ms).then_some(ms)
}

/// A display time in WIB (UTC+7 all year), e.g. `22 Nov 2026 15:04 WIB`.
pub fn wib(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
            .strftime("%-d %b %Y %H:%M WIB")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// Month abbreviations: English as in [`wib`], Indonesian as CLDR writes them.
const MONTHS: [[&str; 12]; 2] = [
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ],
    [
        "Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des",
    ],
];

/// [`wib`] in the page's language: `22 Agu 2026 15:04 WIB` on the Indonesian page,
/// `22 Aug 2026 15:04 WIB` on the English one; without `time`, only the day
/// (`22 Agu 2026`).
pub fn wib_in(ms: i64, indonesian: bool, time: bool) -> String {
    let Ok(t) = jiff::Timestamp::from_millisecond(ms) else {
        return String::new();
    };
    let z = t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)));
    let month = MONTHS[usize::from(indonesian)][usize::try_from(z.month() - 1).unwrap_or(0)];
    let day = format!("{} {month} {}", z.day(), z.year());
    if time {
        format!("{day} {} WIB", z.strftime("%H:%M"))
    } else {
        day
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_outside_1970_to_9998_are_refused() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(
            parse_time("2026-12-07T10:00:00.250Z"),
            Some(1_796_637_600_250)
        );
        assert_eq!(parse_time("0"), Some(0));
        assert_eq!(parse_time("253370764799"), Some((END_SECOND - 1) * 1000));
        assert_eq!(rfc3339((END_SECOND - 1) * 1000), "9998-12-31T23:59:59Z");
        for bad in [
            "1000000000000000",
            "253370764800",
            "9999-01-01T00:00:00Z",
            "-1",
            "9223372036854775807",
            "x",
            "",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn wib_speaks_the_page_language() {
        let ms = parse_time("2026-08-22T08:04:00Z").unwrap();
        assert_eq!(wib(ms), "22 Aug 2026 15:04 WIB");
        assert_eq!(wib_in(ms, false, true), wib(ms));
        assert_eq!(wib_in(ms, true, true), "22 Agu 2026 15:04 WIB");
        assert_eq!(wib_in(ms, true, false), "22 Agu 2026");
        let may = parse_time("2026-05-01T17:30:00Z").unwrap();
        assert_eq!(wib_in(may, true, true), "2 Mei 2026 00:30 WIB");
    }
}
