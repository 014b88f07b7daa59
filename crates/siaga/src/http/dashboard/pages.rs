//! The dashboard's pages (SPEC 13): overview, suppliers, orders and one order's attempts,
//! the desk, resellers and one reseller (with the deposit form), the audit log and the
//! config in force (secrets masked). Each reads what the admin API reads.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;
use siaga_store::{AuditFilter, Order};

use super::layout::{page, rupiah, state, when, with_lang, Frame, Lang};
use super::session::Role;
use super::{query_value, Signed};
use crate::app::App;

/// Newest orders read for the overview's rates.
const RECENT: u32 = 1_000;

pub(super) fn frame<'a>(
    who: &'a Signed,
    title: &'a str,
    banners: Vec<(bool, String)>,
) -> Frame<'a> {
    Frame {
        lang: who.lang,
        path: &who.path,
        title,
        user: &who.session.user,
        role: who.session.role,
        csrf: &who.csrf,
        banners,
    }
}

/// A page that could not be read: the one error envelope (503 with `Retry-After` when the
/// database is unreachable, else 500; the detail is logged).
pub(super) fn failed(e: impl Into<crate::http::error::ApiError>) -> Response {
    e.into().into_response()
}

/// Suppliers whose circuit is open (severe) and the desk's waiting orders (a warning).
pub(super) async fn banners(app: &App, l: Lang, suppliers: &Value) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let down: Vec<&str> = suppliers
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["breaker"] == "open" && s["retired"] != true)
        .filter_map(|s| s["id"].as_str())
        .collect();
    if !down.is_empty() {
        out.push((
            true,
            format!(
                "{}: {}",
                l.pick("Supplier terputus", "Supplier down"),
                down.join(", ")
            ),
        ));
    }
    let settings = app.settings.get();
    if let Ok(n) = crate::ops::desk::count(app.store.as_ref(), &settings).await {
        if n > 0 {
            out.push((
                false,
                format!(
                    "{n} {}",
                    l.pick(
                        "pesanan menunggu di meja manual",
                        "orders waiting on the desk"
                    )
                ),
            ));
        }
    }
    out
}

fn breaker_state(l: Lang, b: &str) -> Markup {
    match b {
        "closed" => state("ok", l.pick("normal", "healthy")),
        "half_open" => state("mid", l.pick("dicoba lagi", "being retried")),
        _ => state("bad", l.pick("terputus", "down")),
    }
}

fn order_state(l: Lang, o: &Order) -> Markup {
    match o.status.as_str() {
        "success" => state("ok", l.pick("sukses", "success")),
        "failed" => state("bad", l.pick("gagal", "failed")),
        _ => state("mid", l.pick("diproses", "pending")),
    }
}

pub async fn overview(State(app): State<Arc<App>>, who: Signed) -> Response {
    let l = who.lang;
    let now = app.now();
    let suppliers = app.health.suppliers_json().await;
    let recent = match app.store.search_orders(None, RECENT).await {
        Ok(o) => o,
        Err(e) => return failed(e),
    };
    let pending = app.store.pending_by_stage().await.unwrap_or_default();
    let hour: Vec<&Order> = recent
        .iter()
        .filter(|o| now - o.created_at < 3_600_000)
        .collect();
    let per_min = hour.iter().filter(|o| now - o.created_at < 600_000).count() as f64 / 10.0;
    let final_hour: Vec<&&Order> = hour.iter().filter(|o| o.status.is_final()).collect();
    let ok = final_hour
        .iter()
        .filter(|o| o.status.as_str() == "success")
        .count();
    let rate = (!final_hour.is_empty()).then(|| ok as f64 * 100.0 / final_hour.len() as f64);
    let in_flight: i64 = recent
        .iter()
        .filter(|o| !o.status.is_final())
        .map(|o| o.price)
        .sum();
    let snapshot = app.status.snapshot();
    let banners = banners(&app, l, &suppliers).await;
    let body = html! {
        div.cards {
            div.card { (l.pick("Pesanan / menit (10 mnt)", "Orders / min (10 min)")) b { (format!("{per_min:.1}")) } }
            div.card { (l.pick("Sukses (1 jam)", "Success (1 h)")) b { @match rate { Some(r) => (format!("{r:.1} %")), None => "–" } } }
            div.card { (l.pick("Uang dalam proses", "Money in flight")) b { (rupiah(in_flight)) } }
            div.card { (l.pick("Pesanan diproses", "Orders pending")) b { (pending.iter().map(|(_, n)| n).sum::<i64>()) } }
        }
        h2 { (l.pick("Supplier", "Suppliers")) }
        (supplier_table(l, &suppliers))
        h2 { (l.pick("Insiden terbuka", "Open incidents")) }
        @if snapshot.active_incidents.is_empty() {
            p.empty { (l.pick("Tidak ada insiden terbuka. Status page menunjukkan semua normal.", "No open incident. The status page shows all normal.")) }
        } @else {
            ul { @for i in &snapshot.active_incidents {
                li { a href=(format!("/incidents/{}", i.id)) { (l.pick(&i.title_id, &i.title_en)) } " · " (i.status) " · " (when(i.created_at, now, l)) }
            } }
        }
        h2 { (l.pick("Pesanan terbaru", "Latest orders")) }
        (order_table(l, &recent[..recent.len().min(10)], now))
    };
    Html(page(
        &frame(&who, l.pick("Ringkasan", "Overview"), banners),
        body,
    ))
    .into_response()
}

pub(super) fn supplier_table(l: Lang, suppliers: &Value) -> Markup {
    html! {
        div.table { table {
            thead { tr {
                th { "ID" } th { (l.pick("Keadaan", "State")) } th.num { (l.pick("Sukses", "Success")) }
                th.num { "p50" } th.num { (l.pick("Berjalan", "In flight")) } th.num { (l.pick("Saldo", "Balance")) }
            } }
            tbody { @for s in suppliers.as_array().into_iter().flatten() {
                tr {
                    td { (s["id"].as_str().unwrap_or("")) @if s["retired"] == true { " " (state("mid", l.pick("pensiun", "retired"))) } }
                    td { (breaker_state(l, s["breaker"].as_str().unwrap_or(""))) @if s["in_maintenance"] == true { " " (state("mid", l.pick("pemeliharaan", "maintenance"))) } }
                    td.num { @match s["success_rate"].as_f64() { Some(r) => (format!("{:.0} %", r * 100.0)), None => "–" } }
                    td.num { @match s["latency_p50_ms"].as_i64() { Some(ms) => (format!("{ms} ms")), None => "–" } }
                    td.num { (s["in_flight"].as_i64().unwrap_or(0)) " / " (s["concurrency_limit"].as_i64().unwrap_or(0)) }
                    td.num { @match s["balance"].as_i64() { Some(b) => (rupiah(b)), None => "–" } }
                }
            } }
        } }
    }
}

pub(super) fn order_table(l: Lang, orders: &[Order], now: i64) -> Markup {
    html! {
        @if orders.is_empty() {
            p.empty { (l.pick("Belum ada pesanan. Pesanan reseller muncul di sini.", "No orders yet. Resellers' orders appear here.")) }
        } @else {
            div.table { table {
                thead { tr {
                    th { "Ref" } th { (l.pick("Produk", "Product")) } th { (l.pick("Tujuan", "Destination")) }
                    th.num { (l.pick("Harga", "Price")) } th { "Status" } th { (l.pick("Dibuat", "Created")) }
                } }
                tbody { @for o in orders {
                    tr {
                        td { a href=(with_lang(&format!("/admin/orders/{}", o.id), l)) { (o.ref_id) } }
                        td { (o.product) } td { (o.destination) } td.num { (rupiah(o.price)) }
                        td { (order_state(l, o)) } td { (when(o.created_at, now, l)) }
                    }
                } }
            } }
        }
    }
}

pub async fn orders(State(app): State<Arc<App>>, who: Signed, RawQuery(q): RawQuery) -> Response {
    let l = who.lang;
    let text = query_value(q.as_deref(), "q")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    // A number is looked up as written and as siaga stores it (0812…).
    let mut found = match app.store.search_orders(text.clone(), 100).await {
        Ok(o) => o,
        Err(e) => return failed(e),
    };
    if let Some(n) = text
        .as_deref()
        .and_then(|t| siaga_domain::Msisdn::parse(t).ok())
    {
        if Some(n.as_str()) != text.as_deref() {
            if let Ok(more) = app
                .store
                .search_orders(Some(n.as_str().to_owned()), 100)
                .await
            {
                found.extend(more);
            }
        }
    }
    let body = html! {
        form.inline method="get" action="/admin/orders" role="search" {
            @if l == Lang::En { input type="hidden" name="lang" value="en"; }
            label { (l.pick("Cari ref, ID pesanan atau nomor tujuan", "Find by ref, order id or destination"))
                input type="search" name="q" value=(text.clone().unwrap_or_default());
            }
            button type="submit" { (l.pick("Cari", "Search")) }
        }
        (order_table(l, &found, app.now()))
    };
    Html(page(
        &frame(&who, l.pick("Pesanan", "Orders"), Vec::new()),
        body,
    ))
    .into_response()
}

pub async fn order(State(app): State<Arc<App>>, who: Signed, Path(id): Path<String>) -> Response {
    let l = who.lang;
    let now = app.now();
    let o = match app.store.order(&id).await {
        Ok(Some(o)) => o,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                Html(page(
                    &frame(&who, "404", Vec::new()),
                    html! { p { (l.pick("Pesanan tidak ditemukan.", "No such order.")) } },
                )),
            )
                .into_response()
        }
        Err(e) => return failed(e),
    };
    let attempts = app.store.attempts(&id).await.unwrap_or_default();
    let settings = app.settings.get();
    let on_desk = crate::ops::desk::on_desk(&settings, &o, &attempts).is_some();
    let review = o
        .stage
        .is_some_and(|s| s == siaga_domain::Stage::ManualReview);
    let body = html! {
        dl {
            dt { "Ref" } dd { (o.ref_id) }
            dt { (l.pick("Reseller", "Reseller")) } dd { a href=(with_lang(&format!("/admin/resellers/{}", o.reseller_id), l)) { (o.reseller_id) } }
            dt { (l.pick("Produk", "Product")) } dd { (o.product) " → " (o.destination) }
            dt { (l.pick("Harga", "Price")) } dd { (rupiah(o.price)) }
            dt { "Status" } dd { (order_state(l, &o)) @if let Some(s) = o.stage { " " (s.as_str()) } @if let Some(f) = o.failure_code { " " (f.as_str()) } }
            @if let Some(sn) = &o.serial_number { dt { "SN" } dd { (sn) } }
        }
        h2 { (l.pick("Percobaan", "Attempts")) }
        ol { @for a in &attempts {
            li {
                (a.supplier_id) " · " (a.sku) " · " (rupiah(a.cost)) " · " strong { (a.state.as_str()) }
                @if let Some(r) = &a.reason { " (" (r) ")" }
                " · " (when(a.started_at, now, l))
                @if let Some(m) = &a.message { br; span.muted { (m) } }
            }
        } }
        @if on_desk || review {
            h2 { (l.pick("Selesaikan", "Resolve")) }
            form.inline method="post" action=(format!("/admin/orders/{}/resolve", o.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                input type="hidden" name="status" value="success";
                label { "SN" input type="text" name="serial_number" required maxlength="128"; }
                button type="submit" { (l.pick("Tandai sukses", "Mark successful")) }
            }
            form.inline method="post" action=(format!("/admin/orders/{}/resolve", o.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                input type="hidden" name="status" value="failed";
                button type="submit" { (l.pick("Gagalkan dan kembalikan dana", "Fail and refund")) }
            }
        }
    };
    let title = format!("{} {}", l.pick("Pesanan", "Order"), o.ref_id);
    Html(page(&frame(&who, &title, Vec::new()), body)).into_response()
}

pub async fn desk(State(app): State<Arc<App>>, who: Signed) -> Response {
    let l = who.lang;
    let now = app.now();
    let settings = app.settings.get();
    let items = match crate::ops::desk::items(app.store.as_ref(), &settings).await {
        Ok(i) => i,
        Err(e) => return failed(e),
    };
    let body = html! {
        @if items.is_empty() {
            p.empty { (l.pick("Meja manual kosong. Pesanan yang dialihkan ke supplier manual muncul di sini.", "The desk is empty. Orders routed to a manual supplier appear here.")) }
        } @else {
            div.table { table {
                thead { tr { th { "Ref" } th { (l.pick("Produk", "Product")) } th { (l.pick("Tujuan", "Destination")) } th.num { (l.pick("Harga", "Price")) } th { (l.pick("Menunggu", "Waiting")) } th { (l.pick("Diambil", "Taken by")) } th {} } }
                tbody { @for i in &items {
                    tr {
                        td { a href=(with_lang(&format!("/admin/orders/{}", i.order.id), l)) { (i.order.ref_id) } }
                        td { (i.order.product) } td { (i.order.destination) } td.num { (rupiah(i.order.price)) }
                        td { (when(i.attempt.started_at, now, l)) }
                        td { @match &i.claim { Some(c) => (c.operator), None => "–" } }
                        td { @if i.claim.is_none() {
                            form method="post" action=(format!("/admin/desk/{}/take", i.order.id)) {
                                input type="hidden" name="csrf" value=(who.csrf);
                                button type="submit" { (l.pick("Ambil", "Take")) }
                            }
                        } }
                    }
                } }
            } }
        }
    };
    Html(page(
        &frame(&who, l.pick("Meja manual", "The desk"), Vec::new()),
        body,
    ))
    .into_response()
}

pub async fn resellers(State(app): State<Arc<App>>, who: Signed) -> Response {
    let l = who.lang;
    let list = match app.store.list_resellers().await {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    let mut rows = Vec::new();
    for r in list {
        let b = app.store.balance(&r.id).await.unwrap_or_default();
        rows.push((r, b));
    }
    let body = html! {
        @if who.session.role == Role::Owner { (super::keys::add_form(&who)) }
        @if rows.is_empty() {
            p.empty { (l.pick("Belum ada reseller. Pemilik menambahkannya dengan formulir di atas atau `siaga reseller add`.", "No resellers yet. The owner adds one with the form above or `siaga reseller add`.")) }
        } @else {
            div.table { table {
                thead { tr { th { (l.pick("Nama", "Name")) } th { "ID" } th.num { (l.pick("Saldo", "Available")) } th.num { (l.pick("Ditahan", "Held")) } } }
                tbody { @for (r, b) in &rows {
                    tr {
                        td { a href=(with_lang(&format!("/admin/resellers/{}", r.id), l)) { (r.name) } }
                        td { (r.id) } td.num { (rupiah(b.available)) } td.num { (rupiah(b.held)) }
                    }
                } }
            } }
        }
    };
    Html(page(
        &frame(&who, l.pick("Reseller", "Resellers"), Vec::new()),
        body,
    ))
    .into_response()
}

pub async fn reseller(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
) -> Response {
    let l = who.lang;
    let r = match app.store.reseller(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                Html(page(
                    &frame(&who, "404", Vec::new()),
                    html! { p { (l.pick("Reseller tidak ditemukan.", "No such reseller.")) } },
                )),
            )
                .into_response()
        }
        Err(e) => return failed(e),
    };
    let b = app.store.balance(&id).await.unwrap_or_default();
    let audit = app
        .store
        .audit(AuditFilter {
            target: Some(id.clone()),
            limit: 20,
            newest_first: true,
            ..AuditFilter::default()
        })
        .await
        .unwrap_or_default();
    let now = app.now();
    let body = html! {
        div.cards {
            div.card { (l.pick("Saldo", "Available")) b #available { (rupiah(b.available)) } }
            div.card { (l.pick("Ditahan", "Held")) b { (rupiah(b.held)) } }
        }
        h2 { (l.pick("Deposit", "Deposit")) }
        form.inline method="post" action=(format!("/admin/resellers/{}/deposits", r.id)) {
            input type="hidden" name="csrf" value=(who.csrf);
            label { (l.pick("Jumlah (rupiah)", "Amount (rupiah)")) input type="number" name="amount" min="1" step="1" required; }
            label { (l.pick("Catatan", "Note")) input type="text" name="note" maxlength="500"; }
            button type="submit" { (l.pick("Tambah saldo", "Add deposit")) }
        }
        @if who.session.role == Role::Owner {
            p { a href=(with_lang(&format!("/admin/resellers/{}/keys", r.id), l)) { (l.pick("Kunci dan aturan akses", "Keys and access rules")) } }
        }
        p { a href=(with_lang(&format!("/admin/resellers/{}/statement", r.id), l)) { (l.pick("Mutasi saldo (24 jam terakhir)", "Statement (last 24 hours)")) } }
        h2 { "Audit" }
        (audit_list(l, &audit, now))
    };
    Html(page(&frame(&who, &r.name, Vec::new()), body)).into_response()
}

/// `/admin/resellers/{id}/statement`: the last 24 hours of the reseller's statement.
pub async fn statement(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
) -> Response {
    let l = who.lang;
    let now = app.now();
    let lines = match app
        .store
        .statement(siaga_store::StatementQuery {
            reseller_id: id.clone(),
            from: now - 86_400_000,
            to: now + 1,
            after: None,
            limit: 100,
        })
        .await
    {
        Ok(v) => v,
        Err(e) => return failed(e),
    };
    let title = format!("{} {id}", l.pick("Mutasi saldo", "Statement"));
    let body = statement_list(l, &lines, now);
    Html(page(&frame(&who, &title, Vec::new()), body)).into_response()
}

fn statement_list(l: Lang, lines: &[siaga_store::StatementLine], now: i64) -> Markup {
    html! {
        @if lines.is_empty() {
            p.empty { (l.pick("Tidak ada mutasi dalam 24 jam. Deposit dan pesanan reseller ini muncul di sini.", "No movement in 24 hours. This reseller's deposits and orders appear here.")) }
        } @else {
            div.table { table {
                thead { tr { th { (l.pick("Waktu", "When")) } th { (l.pick("Jenis", "Kind")) } th { "Ref" } th.num { (l.pick("Jumlah", "Amount")) } th.num { (l.pick("Saldo", "Balance")) } } }
                tbody { @for s in lines {
                    tr { td { (when(s.at, now, l)) } td { (s.kind) } td { (s.ref_id.as_deref().or(s.note.as_deref()).unwrap_or("")) }
                         td.num { (rupiah(s.amount)) } td.num { (rupiah(s.balance_after)) } }
                } }
            } }
        }
    }
}

pub(super) fn audit_list(l: Lang, lines: &[siaga_store::AuditEntry], now: i64) -> Markup {
    html! {
        @if lines.is_empty() {
            p.empty { (l.pick("Belum ada tindakan tercatat.", "No action recorded yet.")) }
        } @else {
            ul { @for a in lines {
                li { (when(a.at, now, l)) " · " strong { (a.actor) } " · " (a.action) " · " (a.target) @if !a.detail.is_empty() { " · " span.muted { (a.detail) } } }
            } }
        }
    }
}

pub async fn audit(State(app): State<Arc<App>>, who: Signed) -> Response {
    let l = who.lang;
    let lines = app
        .store
        .audit(AuditFilter {
            limit: 200,
            newest_first: true,
            ..AuditFilter::default()
        })
        .await
        .unwrap_or_default();
    let body = audit_list(l, &lines, app.now());
    Html(page(&frame(&who, "Audit", Vec::new()), body)).into_response()
}

pub async fn config(State(app): State<Arc<App>>, who: Signed) -> Response {
    if let Some(r) = who.refuse_unless_owner() {
        return r;
    }
    let l = who.lang;
    let s = app.settings.get();
    let body = html! {
        p.muted { (l.pick("Konfigurasi yang berlaku (rahasia disamarkan). Ubah berkasnya lalu jalankan `siaga reload`.", "The config in force (secrets masked). Edit the file, then run `siaga reload`.")) }
        h2 { (l.pick("Supplier", "Suppliers")) }
        div.table { table {
            thead { tr { th { "ID" } th { "Dialect" } th { "Base URL" } th { (l.pick("Kunci", "Key")) } th { "Timeout" } th.num { "Max" } } }
            tbody { @for sup in &s.suppliers {
                tr {
                    td { (sup.id) @if sup.retired { " " (state("mid", l.pick("pensiun", "retired"))) } }
                    td { (format!("{:?}", sup.dialect)) } td { (sup.base_url) }
                    td { @if sup.key.is_empty() { "–" } @else { "***" } }
                    td { (sup.timeout.as_millis()) " ms" } td.num { (sup.max_concurrency) }
                }
            } }
        } }
        h2 { (l.pick("Produk", "Products")) }
        div.table { table {
            thead { tr { th { "Code" } th { (l.pick("Grup", "Group")) } th.num { (l.pick("Harga", "Price")) } th { (l.pick("Rute", "Routes")) } } }
            tbody { @for p in &s.products {
                tr {
                    td { (p.code.as_str()) } td { (p.group) } td.num { (rupiah(p.price.get())) }
                    td { @for r in &p.routes { (r.supplier) " (" (rupiah(r.cost.get())) ") " } }
                }
            } }
        } }
    };
    Html(page(
        &frame(&who, l.pick("Konfigurasi", "Config"), Vec::new()),
        body,
    ))
    .into_response()
}
