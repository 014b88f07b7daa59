//! Server-rendered SVG charts for the reports page (SPEC 11, 13), written with maud: a
//! supplier's availability per day, outages on a timeline, the cost of downtime per
//! supplier. Pure functions of plain figures; each chart is an `img` with a `title` and a
//! `desc` that say in words what it draws, and scales to its box (no sideways scroll).

use maud::{html, Markup};

use super::layout::rupiah;

const W: f64 = 600.0;
const LABEL: f64 = 110.0;
const ROW: f64 = 26.0;

/// The lowest value the availability axis shows: 0, 50, 90 or 99 %, whichever keeps
/// every value in sight while showing small dips.
pub fn floor_of(values: &[f64]) -> f64 {
    let low = values.iter().copied().fold(100.0_f64, f64::min);
    [99.0, 90.0, 50.0, 0.0]
        .into_iter()
        .find(|f| low >= *f)
        .unwrap_or(0.0)
}

/// Availability per day, one row of bars per supplier: `(supplier, [(day label, %)])`.
pub fn availability(id: &str, title: &str, rows: &[(String, Vec<(String, f64)>)]) -> Markup {
    let all: Vec<f64> = rows.iter().flat_map(|r| r.1.iter().map(|d| d.1)).collect();
    let floor = floor_of(&all);
    let days = rows.first().map_or(0, |r| r.1.len()).max(1);
    let band = 40.0;
    let h = rows.len() as f64 * (band + 8.0) + 24.0;
    let step = (W - LABEL) / days as f64;
    let desc: Vec<String> = rows
        .iter()
        .map(|(s, ds)| {
            let v: Vec<String> = ds.iter().map(|(d, a)| format!("{d} {a:.2}%")).collect();
            format!("{s}: {}", v.join(", "))
        })
        .collect();
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-labelledby=(format!("{id}-t {id}-d")) {
            title id=(format!("{id}-t")) { (title) }
            desc id=(format!("{id}-d")) { (desc.join("; ")) }
            @for (n, (s, ds)) in rows.iter().enumerate() {
                @let top = n as f64 * (band + 8.0);
                text x="0" y=(top + band / 2.0 + 4.0) { (s) }
                @for (k, (_, a)) in ds.iter().enumerate() {
                    @let frac = ((a - floor) / (100.0 - floor)).clamp(0.0, 1.0);
                    @let bh = (frac * band).max(1.0);
                    rect x=(format!("{:.1}", LABEL + k as f64 * step + 1.0)) y=(format!("{:.1}", top + band - bh))
                        width=(format!("{:.1}", (step - 2.0).max(1.0))) height=(format!("{bh:.1}"))
                        class=(if *a >= 99.9 { "ok" } else if *a >= 99.0 { "mid" } else { "bad" }) {}
                }
            }
            @if let Some((_, ds)) = rows.first() {
                @for (k, (d, _)) in ds.iter().enumerate() {
                    text x=(format!("{:.1}", LABEL + k as f64 * step + step / 2.0)) y=(h - 6.0) text-anchor="middle" class="small" { (d) }
                }
            }
            text x="0" y=(h - 6.0) class="small" { (format!("{floor:.0}–100 %")) }
        }
    }
}

/// Outages on a timeline from `from` to `to`: `(supplier, [(start, end)])`.
pub fn outages(
    id: &str,
    title: &str,
    from: i64,
    to: i64,
    rows: &[(String, Vec<(i64, i64)>)],
) -> Markup {
    let h = rows.len() as f64 * ROW + 20.0;
    let span = (to - from).max(1) as f64;
    let x = |t: i64| LABEL + ((t - from) as f64 / span).clamp(0.0, 1.0) * (W - LABEL);
    let desc: Vec<String> = rows
        .iter()
        .map(|(s, os)| {
            let mins: i64 = os.iter().map(|(a, b)| (b - a) / 60_000).sum();
            format!("{s}: {} outages, {mins} minutes in all", os.len())
        })
        .collect();
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-labelledby=(format!("{id}-t {id}-d")) {
            title id=(format!("{id}-t")) { (title) }
            desc id=(format!("{id}-d")) { (desc.join("; ")) }
            @for (n, (s, os)) in rows.iter().enumerate() {
                @let top = n as f64 * ROW;
                text x="0" y=(top + ROW / 2.0 + 4.0) { (s) }
                rect x=(LABEL) y=(top + 4.0) width=(W - LABEL) height=(ROW - 8.0) class="lane" {}
                @for (a, b) in os {
                    rect x=(format!("{:.1}", x(*a))) y=(top + 4.0)
                        width=(format!("{:.1}", (x(*b) - x(*a)).max(2.0))) height=(ROW - 8.0) class="bad" {}
                }
            }
            text x=(LABEL) y=(h - 4.0) class="small" { (crate::clock::wib(from)) }
            text x=(W) y=(h - 4.0) text-anchor="end" class="small" { (crate::clock::wib(to)) }
        }
    }
}

/// The cost of downtime per supplier, in rupiah: `(supplier, rupiah)`.
pub fn costs(id: &str, title: &str, rows: &[(String, i64)]) -> Markup {
    let h = rows.len() as f64 * ROW + 4.0;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let room = W - LABEL - 130.0;
    let desc: Vec<String> = rows
        .iter()
        .map(|(s, c)| format!("{s}: {}", rupiah(*c)))
        .collect();
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-labelledby=(format!("{id}-t {id}-d")) {
            title id=(format!("{id}-t")) { (title) }
            desc id=(format!("{id}-d")) { (desc.join("; ")) }
            @for (n, (s, c)) in rows.iter().enumerate() {
                @let top = n as f64 * ROW;
                @let bw = (*c as f64 / max) * room;
                text x="0" y=(top + ROW / 2.0 + 4.0) { (s) }
                rect x=(LABEL) y=(top + 4.0) width=(format!("{bw:.1}")) height=(ROW - 8.0) class="bad" {}
                text x=(format!("{:.1}", LABEL + bw + 6.0)) y=(top + ROW / 2.0 + 4.0) { (rupiah(*c)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_floor_keeps_every_value_in_sight() {
        assert_eq!(floor_of(&[100.0, 99.5]), 99.0);
        assert_eq!(floor_of(&[100.0, 97.0]), 90.0);
        assert_eq!(floor_of(&[12.0]), 0.0);
        assert_eq!(floor_of(&[]), 99.0);
    }

    #[test]
    fn charts_say_in_words_what_they_draw() {
        let a = availability(
            "a",
            "Availability",
            &[(
                "sim0".into(),
                vec![("1/5".into(), 99.5), ("2/5".into(), 100.0)],
            )],
        )
        .into_string();
        assert!(a.contains("sim0: 1/5 99.50%, 2/5 100.00%"), "{a}");
        assert!(a.contains("role=\"img\""));
        let o = outages(
            "o",
            "Outages",
            0,
            3_600_000,
            &[("sim0".into(), vec![(0, 600_000), (1_200_000, 1_800_000)])],
        )
        .into_string();
        assert!(o.contains("sim0: 2 outages, 20 minutes in all"), "{o}");
        assert_eq!(o.matches("class=\"bad\"").count(), 2);
        let c = costs(
            "c",
            "Cost",
            &[("sim0".into(), 1_234_500), ("sim1".into(), 0)],
        )
        .into_string();
        assert!(c.contains("sim0: Rp 1.234.500; sim1: Rp 0"), "{c}");
    }
}
