//! Time intervals for the reports: half-open `[start, end)` in epoch milliseconds, sets of
//! them (union, difference, clipping to a window), the occurrences of maintenance
//! windows inside a report window, and report months in the business time zone.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use siaga_domain::window::Window;

/// `[start, end)`, epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn new(start: i64, end: i64) -> Span {
        Span { start, end }
    }
    pub fn len(self) -> i64 {
        (self.end - self.start).max(0)
    }
    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }
    pub fn contains(self, t: i64) -> bool {
        t >= self.start && t < self.end
    }
    /// The part inside `w` (maybe empty).
    pub fn clip(self, w: Span) -> Span {
        Span::new(self.start.max(w.start), self.end.min(w.end))
    }
}

/// Sorted, merged, without empty spans.
pub fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|s| !s.is_empty());
    spans.sort_by_key(|s| (s.start, s.end));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// Total length of a set of spans (merged first, so overlaps count once).
pub fn total(spans: &[Span]) -> i64 {
    union(spans.to_vec()).iter().map(|s| s.len()).sum()
}

/// The parts of `a` outside every span of `b`.
pub fn minus(a: &[Span], b: &[Span]) -> Vec<Span> {
    let b = union(b.to_vec());
    let mut out = Vec::new();
    for s in union(a.to_vec()) {
        let mut cur = s.start;
        for x in b.iter().filter(|x| x.end > s.start && x.start < s.end) {
            if x.start > cur {
                out.push(Span::new(cur, x.start));
            }
            cur = cur.max(x.end);
        }
        if cur < s.end {
            out.push(Span::new(cur, s.end));
        }
    }
    out
}

/// True if `t` is inside any of `spans`.
pub fn covers(spans: &[Span], t: i64) -> bool {
    spans.iter().any(|s| s.contains(t))
}

/// The occurrences of `w` that overlap `within`, cut at its edges.
pub fn occurrences(w: &Window, within: Span) -> Vec<Span> {
    let mut out = Vec::new();
    let mut t = within.start;
    // A daily window gives at most one occurrence a day; the bound only stops a runaway.
    for _ in 0..4_000 {
        let Some((s, e)) = w.current_or_next(t) else {
            break;
        };
        if s >= within.end {
            break;
        }
        let part = Span::new(s, e).clip(within);
        if !part.is_empty() {
            out.push(part);
        }
        if e <= t {
            break;
        }
        t = e;
    }
    out
}

/// The month `YYYY-MM` in `tz`: from its first local midnight to the next month's.
pub fn month(spec: &str, tz: &TimeZone) -> Result<Span, String> {
    let bad = || format!("{spec:?} is not a month like 2026-11");
    let (y, m) = spec.trim().split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let y: i16 = y.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    let first = Date::new(y, m, 1).map_err(|_| bad())?;
    let next = first
        .checked_add(jiff::Span::new().months(1))
        .map_err(|_| bad())?;
    let at = |d: Date| -> Result<i64, String> {
        Ok(d.to_zoned(tz.clone())
            .map_err(|e| format!("{spec}: {e}"))?
            .timestamp()
            .as_millisecond())
    };
    let span = Span::new(at(first)?, at(next)?);
    if span.start < 0 {
        return Err(format!("{spec:?} is before 1970"));
    }
    Ok(span)
}

/// `YYYY-MM` of the local month holding `ms`, in `tz`.
pub fn month_of(ms: i64, tz: &TimeZone) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_zoned(tz.clone()).strftime("%Y-%m").to_string(),
        Err(_) => "1970-01".into(),
    }
}

/// The month before `YYYY-MM` (`2026-01` → `2025-12`).
pub fn previous_month(spec: &str) -> Option<String> {
    let (y, m) = spec.split_once('-')?;
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    Some(if m <= 1 {
        format!("{:04}-12", y - 1)
    } else {
        format!("{y:04}-{:02}", m - 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn union_minus_and_total() {
        let a = vec![Span::new(0, 10), Span::new(5, 20), Span::new(30, 40)];
        assert_eq!(union(a.clone()), vec![Span::new(0, 20), Span::new(30, 40)]);
        assert_eq!(total(&a), 30);
        let b = vec![Span::new(15, 35)];
        assert_eq!(minus(&a, &b), vec![Span::new(0, 15), Span::new(35, 40)]);
        assert_eq!(minus(&a, &[]), union(a));
    }

    #[test]
    fn a_month_starts_at_local_midnight_and_a_year_turns() {
        let tz = TimeZone::get("Asia/Jakarta").unwrap();
        let nov = month("2026-11", &tz).unwrap();
        assert_eq!(crate::clock::rfc3339(nov.start), "2026-10-31T17:00:00Z");
        assert_eq!(crate::clock::rfc3339(nov.end), "2026-11-30T17:00:00Z");
        assert_eq!(nov.len(), 30 * 24 * 60 * MIN);
        let dec = month("2026-12", &tz).unwrap();
        assert_eq!(crate::clock::rfc3339(dec.end), "2026-12-31T17:00:00Z");
        assert_eq!(month_of(dec.end - 1, &tz), "2026-12");
        assert_eq!(month_of(dec.end, &tz), "2027-01");
        assert_eq!(previous_month("2027-01").as_deref(), Some("2026-12"));
        for bad in ["2026-13", "2026-1", "26-11", "x", "2026-00"] {
            assert!(month(bad, &tz).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_daily_window_occurs_once_a_day_cut_at_the_edges() {
        let tz = TimeZone::fixed(jiff::tz::offset(7));
        let w = Window::daily("23:45-00:15", tz.clone()).unwrap();
        let nov = month("2026-11", &tz).unwrap();
        let occ = occurrences(&w, nov);
        // The one starting 31 Oct 23:45 is cut at 1 Nov 00:00 (15 min), then 29 whole
        // ones, then 30 Nov 23:45 is cut at the month's end (15 min).
        assert_eq!(occ.len(), 31);
        assert_eq!(occ[0], Span::new(nov.start, nov.start + 15 * MIN));
        assert_eq!(occ[30].len(), 15 * MIN);
        assert_eq!(total(&occ), 30 * 30 * MIN);
    }
}
