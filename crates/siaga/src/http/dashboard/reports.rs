//! The reports page (SPEC 11, 13): over the last 7 days (`?days=1..31`), the SLA per
//! supplier and the scorecard per product from the `report` module, with three SVG charts
//! ([`super::charts`]): availability per day, outages on a timeline, cost of downtime per
//! supplier. The window's history is read once (three reads, none per order) and the page
//! body kept for a minute; the default view (7 days, both languages) is computed again in
//! the background every 50 s ([`warm`]), so it always answers from memory (computing it
//! takes ~1.5 s at 100,000 orders: it reads every order of the window).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, PreEscaped};

use super::charts;
use super::layout::{page, rupiah, Lang};
use super::pages::{failed, frame};
use super::{query_value, Signed};
use crate::app::App;
use crate::report::{self, period, sla, Span};

const DAY_MS: i64 = 86_400_000;
/// How long a computed page body is served again.
const KEEP_MS: i64 = 60_000;

type Cache = Mutex<HashMap<(usize, i64, bool), (i64, String)>>;
static CACHE: std::sync::LazyLock<Cache> = std::sync::LazyLock::new(Cache::default);

pub async fn reports(State(app): State<Arc<App>>, who: Signed, RawQuery(q): RawQuery) -> Response {
    let l = who.lang;
    let days = query_value(q.as_deref(), "days")
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(7)
        .clamp(1, 31);
    let now = app.now();
    let key = (Arc::as_ptr(&app) as usize, days, l == Lang::En);
    let kept = CACHE
        .lock()
        .ok()
        .and_then(|c| c.get(&key).filter(|(at, _)| now - at < KEEP_MS).cloned());
    let body = match kept {
        Some((_, b)) => b,
        None => match compute(&app, l, days, now).await {
            Ok(b) => {
                keep(key, now, b.clone());
                b
            }
            Err(e) => return failed(e),
        },
    };
    let title = l.pick("Laporan", "Reports");
    Html(page(&frame(&who, title, Vec::new()), PreEscaped(body))).into_response()
}

/// Keeps the default view (7 days, Indonesian and English) computed, every 50 s, until
/// shutdown: the page then answers from memory whatever the number of orders.
pub async fn warm(app: Arc<App>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if app.settings.get().admin_token.is_none() {
        return; // no dashboard
    }
    let mut tick =
        tokio::time::interval(std::time::Duration::from_millis((KEEP_MS - 10_000) as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        for l in [Lang::Id, Lang::En] {
            let now = app.now();
            match compute(&app, l, 7, now).await {
                Ok(b) => keep((Arc::as_ptr(&app) as usize, 7, l == Lang::En), now, b),
                Err(e) => tracing::warn!(error = %e, "reports page not computed in the background"),
            }
        }
    }
}

/// Whether the default view of `app`'s reports page is kept computed now.
pub fn warmed(app: &Arc<App>) -> bool {
    let key = (Arc::as_ptr(app) as usize, 7, false);
    CACHE.lock().map(|c| c.contains_key(&key)).unwrap_or(false)
}

fn keep(key: (usize, i64, bool), now: i64, body: String) {
    if let Ok(mut c) = CACHE.lock() {
        c.retain(|_, (at, _)| now - *at < KEEP_MS);
        c.insert(key, (now, body));
    }
}

fn day_label(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
                .strftime("%-d/%-m")
                .to_string()
        })
        .unwrap_or_default()
}

async fn compute(
    app: &App,
    l: Lang,
    days: i64,
    now: i64,
) -> Result<String, siaga_store::StoreError> {
    let settings = app.settings.get();
    let w = Span::new(now - days * DAY_MS, now);
    let h = report::history(app.store.as_ref(), w).await?;
    let (terms, plan) = report::terms_of(&settings);
    let r = report::sla_report(&terms, &plan, &h, w, now, "Asia/Jakarta");
    let card = report::scorecard::scorecard(&terms, &plan, &h, &r.suppliers, w, now);
    let per_day: Vec<(String, Vec<(String, f64)>)> = terms
        .iter()
        .map(|t| {
            let ds = (0..days)
                .map(|k| {
                    let d = Span::new(w.start + k * DAY_MS, w.start + (k + 1) * DAY_MS);
                    let down = period::total(&sla::down_spans(t, &h, d));
                    let a = 100.0 * (1.0 - down as f64 / d.len().max(1) as f64);
                    (day_label(d.start), a)
                })
                .collect();
            (t.id.clone(), ds)
        })
        .collect();
    let outages: Vec<(String, Vec<(i64, i64)>)> = r
        .suppliers
        .iter()
        .map(|s| {
            let spans = s.outages.iter().map(|(_, sp)| (sp.start, sp.end)).collect();
            (s.supplier.clone(), spans)
        })
        .collect();
    let costs: Vec<(String, i64)> = r
        .suppliers
        .iter()
        .map(|s| (s.supplier.clone(), s.cost.total()))
        .collect();
    Ok(html! {
        p.muted { (format!("{} → {}", crate::clock::wib(w.start), crate::clock::wib(w.end))) " · "
            @for d in [1, 7, 30] { a href=(format!("/admin/reports?days={d}{}", if l == Lang::En { "&lang=en" } else { "" })) { (d) " " (l.pick("hari", "days")) } " " } }
        h2 { (l.pick("Ketersediaan per hari", "Availability per day")) }
        (charts::availability("avail", l.pick("Ketersediaan supplier per hari (persen)", "Supplier availability per day (percent)"), &per_day))
        h2 { (l.pick("Gangguan", "Outages")) }
        (charts::outages("outages", l.pick("Gangguan supplier pada garis waktu", "Supplier outages on a timeline"), w.start, w.end, &outages))
        h2 { (l.pick("Biaya gangguan", "Cost of downtime")) }
        (charts::costs("costs", l.pick("Biaya gangguan per supplier (rupiah)", "Cost of downtime per supplier (rupiah)"), &costs))
        (sla_table(l, &r))
        (scorecard_table(l, &card))
    }
    .into_string())
}

fn sla_table(l: Lang, r: &report::Report) -> Markup {
    html! {
        h2 { "SLA" }
        div.table { table {
            thead { tr {
                th { "Supplier" } th.num { (l.pick("Ketersediaan", "Availability")) } th.num { (l.pick("Gangguan", "Outages")) }
                th.num { (l.pick("Percobaan", "Attempts")) } th.num { (l.pick("Sukses", "Success")) } th.num { (l.pick("Kredit", "Credit")) } th.num { (l.pick("Biaya gangguan", "Downtime cost")) }
            } }
            tbody { @for s in &r.suppliers {
                tr {
                    td { (s.supplier) } td.num { (format!("{:.2} %", s.availability)) } td.num { (s.outages.len()) }
                    td.num { (s.attempts) } td.num { @match s.success_rate { Some(x) => (format!("{:.1} %", x * 100.0)), None => "–" } }
                    td.num { (rupiah(s.credit.rupiah)) } td.num { (rupiah(s.cost.total())) }
                }
            } }
        } }
    }
}

fn scorecard_table(l: Lang, c: &report::scorecard::Scorecard) -> Markup {
    html! {
        h2 { (l.pick("Kartu skor", "Scorecard")) }
        @if c.products.is_empty() {
            p.empty { (l.pick("Belum ada produk dengan rute. Tambahkan produk di konfigurasi.", "No product with routes yet. Add products in the config.")) }
        } @else {
            div.table { table {
                thead { tr { th { (l.pick("Produk", "Product")) } th { (l.pick("Urutan sekarang", "Current order")) } th { (l.pick("Disarankan", "Recommended")) } th.num { (l.pick("Hemat", "Saving")) } } }
                tbody { @for p in &c.products {
                    tr { td { (p.product) } td { (p.current.join(" → ")) } td { (p.recommended.join(" → ")) } td.num { (rupiah(p.saving)) } }
                } }
            } }
            @if !c.consider_migration.is_empty() {
                p { (l.pick("Pertimbangkan mengganti: ", "Consider replacing: ")) (c.consider_migration.join(", ")) }
            }
        }
    }
}
