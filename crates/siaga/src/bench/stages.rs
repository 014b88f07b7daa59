//! Where an order's latency goes in the bench's open loop: the load generator's stamps
//! (scheduled, sent, answered, final callback received) joined with the engine's
//! ([`crate::engine::trace`]) into one duration per stage, with the p50, p99 and the mean
//! over the slowest 1 % of orders (what the tail is made of) of each.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::percentile;
use crate::engine::trace::{Stage, Stamps};

/// One open-loop order as the load generator saw it.
pub(super) struct Timed {
    pub id: String,
    /// Its place in the schedule.
    pub at: Instant,
    /// When its `POST` left (later than `at` when the generator lags).
    pub sent: Instant,
    /// When the switch's answer came back.
    pub answered: Instant,
    /// When its final callback came in.
    pub arrived: Instant,
}

/// The stages, in path order: name, from, to. `None` is the load generator's own stamp
/// (see [`point`]). `answer` runs beside `handoff` and later stages (the answer and the
/// supplier request leave together), so the stages other than it add up to `total`.
const STAGES: [(&str, Point, Point); 10] = [
    // Scheduled → sent: the load generator's lag (its timer's millisecond steps, CPU).
    ("send_lag", Point::At, Point::Sent),
    // The request read, routed, authenticated and checked; the intake task started.
    ("request", Point::Sent, Point::Engine(Stage::IntakeBegan)),
    // The first route chosen, order and attempt written and durable (queue, commit, sync).
    (
        "intake_write",
        Point::Engine(Stage::IntakeBegan),
        Point::Engine(Stage::IntakeDurable),
    ),
    // Beside the rest: the answer written and read by the reseller.
    (
        "answer",
        Point::Engine(Stage::IntakeDurable),
        Point::Answered,
    ),
    // The dispatcher takes the order and the request leaves.
    (
        "handoff",
        Point::Engine(Stage::IntakeDurable),
        Point::Engine(Stage::SupplierSent),
    ),
    (
        "supplier",
        Point::Engine(Stage::SupplierSent),
        Point::Engine(Stage::SupplierReplied),
    ),
    // The reply decided, the settle written and durable.
    (
        "settle_write",
        Point::Engine(Stage::SupplierReplied),
        Point::Engine(Stage::SettleDurable),
    ),
    // The outbox message reaches the deliverer (the store's feed)...
    (
        "callback_feed",
        Point::Engine(Stage::SettleDurable),
        Point::Engine(Stage::CallbackTaken),
    ),
    // ...which reads the reseller, signs and sends; then the exchange itself.
    (
        "callback_start",
        Point::Engine(Stage::CallbackTaken),
        Point::Engine(Stage::CallbackSent),
    ),
    (
        "callback_http",
        Point::Engine(Stage::CallbackSent),
        Point::Arrived,
    ),
];

#[derive(Clone, Copy)]
enum Point {
    At,
    Sent,
    Answered,
    Arrived,
    Engine(Stage),
}

fn point(t: &Timed, s: &Stamps, p: Point) -> Option<Instant> {
    match p {
        Point::At => Some(t.at),
        Point::Sent => Some(t.sent),
        Point::Answered => Some(t.answered),
        Point::Arrived => Some(t.arrived),
        Point::Engine(stage) => s.get(stage as usize).copied().flatten(),
    }
}

/// Milliseconds from `a` to `b`, negative when `b` came first (two threads woken by one
/// event: the feed and the settle's caller).
fn ms(a: Instant, b: Instant) -> f64 {
    match b.checked_duration_since(a) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(a.duration_since(b).as_secs_f64() * 1e3),
    }
}

/// `{"<stage>": {"p50_ms", "p99_ms", "slowest_1pct_mean_ms"}, ..., "total": ..., "orders":
/// n}` over the orders the engine stamped at every stage (an order it did not, e.g.
/// one not final in time, is left out).
pub(super) fn breakdown(orders: &[Timed], stamps: &HashMap<String, Stamps>) -> Value {
    let rows: Vec<(f64, Vec<f64>)> = orders
        .iter()
        .filter_map(|t| {
            let s = stamps.get(&t.id)?;
            let stages = STAGES
                .iter()
                .map(|(_, from, to)| Some(ms(point(t, s, *from)?, point(t, s, *to)?)))
                .collect::<Option<Vec<f64>>>()?;
            Some((ms(t.at, t.arrived), stages))
        })
        .collect();
    let mut totals: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let p99 = percentile(&mut totals, 0.99);
    // The slowest 1 % (at least one order), by total.
    let mut by_total: Vec<&(f64, Vec<f64>)> = rows.iter().collect();
    by_total.sort_by(|a, b| b.0.total_cmp(&a.0));
    let slowest = &by_total[..rows.len().div_ceil(100).min(rows.len())];
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let mean = |v: &mut dyn Iterator<Item = f64>| {
        let (n, sum) = v.fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
        round(sum / n.max(1) as f64)
    };
    let mut out = Map::new();
    for (i, (name, ..)) in STAGES.iter().enumerate() {
        let mut v: Vec<f64> = rows.iter().map(|r| r.1[i]).collect();
        out.insert(
            (*name).to_owned(),
            json!({
                "p50_ms": round(percentile(&mut v, 0.5)),
                "p99_ms": round(percentile(&mut v, 0.99)),
                "slowest_1pct_mean_ms": mean(&mut slowest.iter().map(|r| r.1[i])),
            }),
        );
    }
    out.insert(
        "total".into(),
        json!({
            "p50_ms": round(percentile(&mut totals, 0.5)),
            "p99_ms": round(p99),
            "slowest_1pct_mean_ms": mean(&mut slowest.iter().map(|r| r.0)),
        }),
    );
    out.insert("orders".into(), json!(rows.len()));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stages_between_the_stamps_add_up_to_the_total() {
        let t0 = Instant::now();
        let after = |ms: u64| t0 + Duration::from_millis(ms);
        let mut stamps: HashMap<String, Stamps> = HashMap::new();
        let mut orders = Vec::new();
        for n in 0..100u64 {
            let id = format!("o{n}");
            // Every stage 1 ms, but order 99's settle 50 ms.
            let settle = if n == 99 { 50 } else { 1 };
            let s: Stamps = [
                Some(after(2)),
                Some(after(3)),
                Some(after(4)),
                Some(after(5)),
                Some(after(5 + settle)),
                Some(after(6 + settle)),
                Some(after(7 + settle)),
            ];
            stamps.insert(id.clone(), s);
            orders.push(Timed {
                id,
                at: t0,
                sent: after(1),
                answered: after(4),
                arrived: after(8 + settle),
            });
        }
        // Not stamped by the engine: left out.
        orders.push(Timed {
            id: "lost".into(),
            at: t0,
            sent: t0,
            answered: t0,
            arrived: t0,
        });
        let b = breakdown(&orders, &stamps);
        assert_eq!(b["orders"], 100);
        assert_eq!(b["settle_write"]["p50_ms"], 1.0);
        assert_eq!(b["settle_write"]["slowest_1pct_mean_ms"], 50.0);
        assert_eq!(b["handoff"]["slowest_1pct_mean_ms"], 1.0);
        assert_eq!(b["total"]["p50_ms"], 9.0);
        assert_eq!(b["total"]["p99_ms"], 9.0);
        assert_eq!(b["total"]["slowest_1pct_mean_ms"], 58.0);
        let sum: f64 = STAGES
            .iter()
            .filter(|s| s.0 != "answer")
            .map(|s| b[s.0]["p50_ms"].as_f64().unwrap_or(0.0))
            .sum();
        assert_eq!(sum, 9.0);
    }
}
