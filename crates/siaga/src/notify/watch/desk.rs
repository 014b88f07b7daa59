//! The desk alert (SPEC 6.1.2): the owner hears when an order has waited on the manual desk
//! longer than its supplier's `desk_alert_after_s`, once per order that newly got that old
//! (not again every tick). The decision is pure ([`desk_alert`]); [`desk`] reads the store
//! and writes the alert.

use serde_json::json;
use siaga_store::{NoticeBody, StoreError};

use super::super::{alert_owner, render, Notifier};

/// An order on the desk: (order id, ref id, when it gets too old: on the desk since +
/// its supplier's `desk_alert_after_s`).
pub(super) type Waiting = (String, String, i64);

/// The owner alert listing the orders too long on the desk, when one of them got too old
/// after the last alert (`last`: the newest "too old since" told). Returns that newest
/// time, for the mark, and the alert. An order gets too old once, at a time that only
/// grows with the clock, so each is told in exactly one alert.
pub(super) fn desk_alert(desk: &[Waiting], now: i64, last: i64) -> Option<(i64, NoticeBody)> {
    let old: Vec<&Waiting> = desk.iter().filter(|w| w.2 <= now).collect();
    let newest = old.iter().map(|w| w.2).max()?;
    if newest <= last {
        return None;
    }
    let refs: Vec<String> = old.iter().map(|(id, r, _)| format!("{id} ({r})")).collect();
    let n = old.len();
    let body = render::alert(
        "desk",
        format!("{n} pesanan terlalu lama di meja manual / {n} orders waiting too long on the desk"),
        format!(
            "Pesanan ini menunggu operator di meja manual lebih lama dari batasnya (siaga desk list, siaga desk take, siaga order resolve): {}",
            refs.join(", ")
        ),
        format!(
            "These orders have waited on the manual desk longer than its limit (siaga desk list, siaga desk take, siaga order resolve): {}",
            refs.join(", ")
        ),
        json!({"orders": refs}),
    );
    Some((newest, body))
}

/// Reads the desk and alerts the owner about orders newly too old on it.
pub(super) async fn desk(ctx: &Notifier) -> Result<(), StoreError> {
    let ids = crate::config::manual_ids(&ctx.settings.get().suppliers);
    if ids.is_empty() {
        return Ok(());
    }
    let items = ctx.store.desk_orders(&ids, 200).await?;
    let waiting: Vec<Waiting> = items
        .iter()
        .map(|i| {
            let after = ctx
                .settings
                .get()
                .supplier(&i.attempt.supplier_id)
                .map_or(600_000, |s| s.desk_alert_after.as_millis() as i64);
            (
                i.order.id.clone(),
                i.order.ref_id.clone(),
                i.attempt.started_at.saturating_add(after),
            )
        })
        .collect();
    let last = super::mark(ctx, "desk:last")
        .await?
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let Some((newest, body)) = desk_alert(&waiting, ctx.now(), last) else {
        return Ok(());
    };
    let marks = vec![("desk:last".into(), newest.to_string())];
    alert_owner(ctx, "alert:desk", body, marks).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_796_094_000_000;
    const MIN: i64 = 60_000;

    fn w(id: &str, old_at: i64) -> Waiting {
        (id.into(), format!("r-{id}"), old_at)
    }

    #[test]
    fn each_order_too_long_on_the_desk_is_told_once() {
        // o1 is too old at T0 + 10 min, o2 at T0 + 11 min.
        let desk = [w("o1", T0 + 10 * MIN), w("o2", T0 + 11 * MIN)];
        assert!(desk_alert(&[], T0, 0).is_none());
        // Nothing is too old yet.
        assert!(desk_alert(&desk, T0 + 9 * MIN, 0).is_none());
        // o1 got too old: one alert naming it, the mark at its time.
        let (mark, body) = desk_alert(&desk, T0 + 10 * MIN, 0).expect("o1 alert");
        assert_eq!(mark, T0 + 10 * MIN);
        assert_eq!(body.kind, "alert.desk");
        assert!(body.subject.starts_with("1 pesanan"), "{}", body.subject);
        assert!(
            body.text.contains("o1 (r-o1)") && !body.text.contains("o2"),
            "{}",
            body.text
        );
        // The next ticks: nothing new, no repeat.
        assert!(desk_alert(&desk, T0 + 10 * MIN + 1_000, mark).is_none());
        // o2 got too old: a second alert, listing both still waiting.
        let (mark2, body) = desk_alert(&desk, T0 + 11 * MIN, mark).expect("o2 alert");
        assert_eq!(mark2, T0 + 11 * MIN);
        assert!(body.text.contains("o1 (r-o1), o2 (r-o2)"), "{}", body.text);
        assert!(desk_alert(&desk, T0 + 60 * MIN, mark2).is_none());
        // o1 resolved meanwhile: o2 alone is still not news.
        assert!(desk_alert(&desk[1..], T0 + 60 * MIN, mark2).is_none());
    }

    #[test]
    fn a_shorter_limit_at_another_desk_is_not_lost_behind_a_longer_one() {
        // o1 came first to a desk with a long limit, o2 later to one with a short limit:
        // o2 gets too old first; o1 is still told when it does.
        let desk = [w("o1", T0 + 30 * MIN), w("o2", T0 + 5 * MIN)];
        let (mark, body) = desk_alert(&desk, T0 + 6 * MIN, 0).expect("o2 alert");
        assert!(body.text.contains("o2") && !body.text.contains("o1"));
        let (_, body) = desk_alert(&desk, T0 + 30 * MIN, mark).expect("o1 alert");
        assert!(body.text.contains("o1"));
    }
}
