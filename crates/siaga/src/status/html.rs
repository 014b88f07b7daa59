//! The server-rendered status page (`/`, `/history`, `/incidents/{id}`): plain HTML and CSS,
//! no JavaScript, Indonesian by default and English on request, readable on a phone.
//! Built with maud, which escapes every value it splices in; nothing private is shown
//! (SPEC 3.6).

use maud::{html, Markup, PreEscaped, DOCTYPE};
use siaga_domain::status::{ComponentStatus, Headline};

use super::view::*;
use crate::clock::wib;

fn t(lang: Lang, id: &'static str, en: &'static str) -> &'static str {
    if lang == Lang::En {
        en
    } else {
        id
    }
}

pub fn status_word(s: ComponentStatus, lang: Lang) -> &'static str {
    match s {
        ComponentStatus::Operational => t(lang, "Normal", "Operational"),
        ComponentStatus::DegradedPerformance => t(lang, "Kinerja menurun", "Degraded performance"),
        ComponentStatus::PartialOutage => t(lang, "Gangguan sebagian", "Partial outage"),
        ComponentStatus::MajorOutage => t(lang, "Gangguan besar", "Major outage"),
        ComponentStatus::UnderMaintenance => t(lang, "Dalam pemeliharaan", "Under maintenance"),
    }
}

pub fn incident_state(s: &str, lang: Lang) -> &'static str {
    match s {
        "investigating" => t(lang, "Sedang diselidiki", "Investigating"),
        "identified" => t(lang, "Penyebab ditemukan", "Identified"),
        "monitoring" => t(lang, "Dipantau", "Monitoring"),
        "resolved" => t(lang, "Selesai", "Resolved"),
        "postmortem" => t(lang, "Laporan pasca-insiden", "Postmortem"),
        _ => t(lang, "Diperbarui", "Update"),
    }
}

fn class(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "ok",
        ComponentStatus::DegradedPerformance => "deg",
        ComponentStatus::PartialOutage => "part",
        ComponentStatus::MajorOutage => "major",
        ComponentStatus::UnderMaintenance => "maint",
    }
}

/// Inline (one request, no script); the Content-Security-Policy allows it by its hash.
pub const CSS: &str = "
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1a1a1a;background:#f6f7f9}
main,header,footer{max-width:52rem;margin:0 auto;padding:0 1rem}header{display:flex;justify-content:space-between;align-items:center;padding-top:1rem;flex-wrap:wrap;gap:.5rem}
h1{font-size:1.4rem;margin:.5rem 0}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}h3{font-size:1rem;margin:0}
a{color:#0b4f9c}.banner{padding:1rem;border-radius:.5rem;font-weight:600;margin:1rem 0;color:#fff}
.banner.ok{background:#16703a}.banner.deg{background:#8a5300}.banner.part{background:#a3410c}.banner.major{background:#b3261e}.banner.maint{background:#1d5ea8}
.card{background:#fff;border:1px solid #d9dde3;border-radius:.5rem;padding:1rem;margin:.75rem 0}
.row{display:flex;justify-content:space-between;gap:.5rem;flex-wrap:wrap}.st{font-weight:600}.st.ok{color:#16703a}.st.deg{color:#8a5300}.st.part{color:#a3410c}.st.major{color:#b3261e}.st.maint{color:#1d5ea8}
.bar{display:flex;gap:1px;margin:.5rem 0 .25rem;height:2rem}.day{flex:1;position:relative;border-radius:1px;background:#c9ced6;outline-offset:2px}
.day.ok{background:#2e9e5b}.day.deg{background:#d19a1e}.day.part{background:#e0702b}.day.major{background:#d23a31}.day.none{background:#c9ced6}
.tip{display:none;position:absolute;bottom:2.3rem;left:50%;transform:translateX(-50%);background:#1a1a1a;color:#fff;padding:.4rem .5rem;border-radius:.3rem;font-size:.8rem;white-space:nowrap;z-index:2}
.day:hover .tip,.day:focus .tip{display:block}.day:focus{outline:2px solid #0b4f9c}
.muted{color:#4a5260;font-size:.9rem}.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
ol.tl{list-style:none;padding:0;margin:.5rem 0 0}ol.tl li{border-left:3px solid #d9dde3;padding:.25rem 0 .5rem .75rem}
.tag{display:inline-block;background:#b3261e;color:#fff;border-radius:.25rem;padding:0 .4rem;font-size:.8rem;margin-left:.3rem}
footer{padding:1rem;font-size:.9rem;color:#4a5260}
";

/// The `lang` attribute value and the query value of a language.
fn code(lang: Lang) -> &'static str {
    if lang == Lang::En {
        "en"
    } else {
        "id"
    }
}

fn page(lang: Lang, title: &str, body: Markup, s: &StatusSnapshot, path: &str) -> String {
    let (other, other_name) = if lang == Lang::En {
        ("id", "Bahasa Indonesia")
    } else {
        ("en", "English")
    };
    let html_lang = code(lang);
    let markup = html! {
        (DOCTYPE) "\n"
        html lang=(html_lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="alternate" type="application/atom+xml" href="/history.atom"
                    title=(t(lang, "Riwayat insiden", "Incident history"));
                // A constant of ours inside a raw-text element: nothing to escape.
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    p { a href={ "/?lang=" (html_lang) } { (s.page_name) } }
                    nav aria-label=(t(lang, "Navigasi", "Navigation")) {
                        a href={ (path) "?lang=" (other) } lang=(other) { (other_name) }
                        " · "
                        a href={ "/history?lang=" (html_lang) } { (t(lang, "Riwayat insiden", "Incident history")) }
                        " · "
                        a href="/history.atom" { "Atom" }
                    }
                }
                main { (body) }
                footer {
                    p { (t(
                        lang,
                        "Uptime harian memakai rumus Statuspage: waktu gangguan = menit gangguan besar + 0,3 × menit gangguan sebagian; kinerja menurun tidak dihitung sebagai gangguan; pemeliharaan yang diumumkan tidak dihitung.",
                        "Daily uptime uses Statuspage's formula: downtime = minutes of major outage + 0.3 × minutes of partial outage; degraded performance is not downtime; announced maintenance is excluded."
                    )) }
                    p class="muted" { (t(lang, "Diperbarui", "Updated")) " " (wib(s.generated_at)) }
                }
            }
        }
        "\n"
    };
    markup.into_string()
}

fn banner(s: &StatusSnapshot, lang: Lang) -> Markup {
    let (id, en) = s.headline.words();
    let class = match s.headline {
        Headline::AllOperational => "ok",
        Headline::Maintenance => "maint",
        Headline::PartiallyDegraded | Headline::Degraded => "deg",
        Headline::PartialOutage => "part",
        Headline::MajorOutage => "major",
    };
    html! { p class={ "banner " (class) } role="status" { (t(lang, id, en)) } }
}

fn day_class(d: &DayUptime) -> &'static str {
    match d.uptime_pct {
        None => "none",
        Some(_) if d.major_min > 0 => "major",
        Some(_) if d.partial_min > 0 => "part",
        Some(_) if d.degraded_min > 0 => "deg",
        Some(_) => "ok",
    }
}

fn pct(p: Option<f64>, lang: Lang) -> String {
    match p {
        Some(v) => {
            let s = format!("{v:.2}%");
            if lang == Lang::Id {
                s.replace('.', ",")
            } else {
                s
            }
        }
        None => t(lang, "tidak ada data", "no data").to_string(),
    }
}

/// One day of the 90-day bar: a focusable square whose tooltip and label say the detail.
fn day(d: &DayUptime, lang: Lang) -> Markup {
    let detail = format!(
        "{}: {} {}; {} {} {}, {} {} {}, {} {} {}, {} {} {}",
        d.date,
        t(lang, "uptime", "uptime"),
        pct(d.uptime_pct, lang),
        t(lang, "gangguan besar", "major outage"),
        d.major_min,
        t(lang, "menit", "min"),
        t(lang, "sebagian", "partial"),
        d.partial_min,
        t(lang, "menit", "min"),
        t(lang, "melambat", "degraded"),
        d.degraded_min,
        t(lang, "menit", "min"),
        t(lang, "pemeliharaan", "maintenance"),
        d.maintenance_min,
        t(lang, "menit", "min"),
    );
    html! {
        span class={ "day " (day_class(d)) } tabindex="0" role="img" aria-label=(detail) {
            span class="tip" aria-hidden="true" { (detail) }
        }
    }
}

fn component(c: &ComponentView, lang: Lang) -> Markup {
    let counted: Vec<f64> = c.days.iter().filter_map(|d| d.uptime_pct).collect();
    let avg = (!counted.is_empty()).then(|| counted.iter().sum::<f64>() / counted.len() as f64);
    html! {
        section class="card" aria-labelledby={ "c-" (c.id) } {
            div class="row" {
                h3 id={ "c-" (c.id) } { (c.name) }
                span class={ "st " (class(c.status)) } { (status_word(c.status, lang)) }
            }
            div class="bar" { @for d in &c.days { (day(d, lang)) } }
            div class="row muted" {
                span { (t(lang, "90 hari lalu", "90 days ago")) }
                span { (t(lang, "Uptime 90 hari:", "90-day uptime:")) " " (pct(avg, lang)) }
                span { (t(lang, "Hari ini", "Today")) }
            }
        }
    }
}

fn incident(i: &IncidentView, lang: Lang, link: bool) -> Markup {
    let title = if lang == Lang::En {
        &i.title_en
    } else {
        &i.title_id
    };
    let postmortem = match (lang, &i.postmortem_id, &i.postmortem_en) {
        (Lang::En, _, Some(p)) | (Lang::Id, Some(p), _) => Some(p),
        _ => None,
    };
    html! {
        article class="card" {
            h3 {
                @if link {
                    a href={ "/incidents/" (i.id) "?lang=" (code(lang)) } { (title) }
                } @else {
                    (title)
                }
                @if i.security { span class="tag" { (t(lang, "Keamanan", "Security")) } }
            }
            p class="muted" {
                (t(lang, "Status", "Status")) ": " (incident_state(&i.status, lang))
                " · " (t(lang, "Terdampak", "Affected")) ": " (i.components.join(", "))
            }
            ol class="tl" {
                @for u in i.updates.iter().rev() {
                    li {
                        strong { (incident_state(&u.status, lang)) }
                        " — " (if lang == Lang::En { &u.body_en } else { &u.body_id }) " "
                        span class="muted" { "(" (wib(u.at)) ")" }
                    }
                }
            }
            @if let Some(p) = postmortem {
                h4 { (t(lang, "Laporan pasca-insiden", "Postmortem")) }
                p { (p) }
            }
        }
    }
}

fn maintenance(m: &MaintenanceView, lang: Lang) -> Markup {
    let when = match m.status {
        "in_progress" => t(lang, "sedang berlangsung", "in progress"),
        "verifying" => t(lang, "sedang diperiksa", "verifying"),
        "completed" => t(lang, "selesai", "completed"),
        _ => t(lang, "akan datang", "upcoming"),
    };
    html! {
        div class="card" {
            h3 { (super::json::maintenance_name(m, lang)) }
            p {
                (wib(m.starts_at)) " — " (wib(m.ends_at)) " "
                span class="muted" { "(" (when) ")" }
            }
            p { (super::json::maintenance_body(m, lang)) }
        }
    }
}

fn subscribe_form(lang: Lang) -> Markup {
    html! {
        h2 id="subscribe" { (t(lang, "Berlangganan", "Subscribe")) }
        form class="card" method="post" action="/subscribe" {
            p { (t(
                lang,
                "Dapatkan email saat ada gangguan, pembaruan, dan pemeliharaan. Kami mengirim tautan konfirmasi dulu.",
                "Get an email when there is an incident, an update or maintenance. We send a confirmation link first."
            )) }
            label for="sub-email" { "Email" }
            " "
            input id="sub-email" type="email" name="email" autocomplete="email" required;
            " "
            button type="submit" { (t(lang, "Berlangganan", "Subscribe")) }
        }
    }
}

pub fn render_index(s: &StatusSnapshot, lang: Lang) -> String {
    let body = html! {
        h1 { (s.page_name) }
        (banner(s, lang))
        @if !s.active_incidents.is_empty() {
            h2 { (t(lang, "Insiden aktif", "Active incidents")) }
            @for i in &s.active_incidents { (incident(i, lang, true)) }
        }
        @if !s.maintenances.is_empty() {
            h2 { (t(lang, "Pemeliharaan terjadwal", "Scheduled maintenance")) }
            @for m in &s.maintenances { (maintenance(m, lang)) }
        }
        h2 { (t(lang, "Komponen", "Components")) }
        @for c in &s.components { (component(c, lang)) }
        @if s.subscribe { (subscribe_form(lang)) }
    };
    page(lang, &s.page_name, body, s, "/")
}

pub fn render_history(s: &StatusSnapshot, lang: Lang) -> String {
    let body = html! {
        h1 { (t(lang, "Riwayat insiden (90 hari)", "Incident history (90 days)")) }
        @if s.history.is_empty() {
            p { (t(lang, "Tidak ada insiden.", "No incidents.")) }
        }
        @for i in &s.history { (incident(i, lang, true)) }
        @if !s.past_maintenances.is_empty() {
            h2 { (t(lang, "Pemeliharaan selesai", "Completed maintenance")) }
            @for m in &s.past_maintenances { (maintenance(m, lang)) }
        }
    };
    page(
        lang,
        t(lang, "Riwayat insiden", "Incident history"),
        body,
        s,
        "/history",
    )
}

pub fn render_incident(s: &StatusSnapshot, id: i64, lang: Lang) -> Option<String> {
    let i = s.history.iter().find(|i| i.id == id)?;
    let title = if lang == Lang::En {
        &i.title_en
    } else {
        &i.title_id
    };
    Some(page(
        lang,
        title,
        incident(i, lang, false),
        s,
        &format!("/incidents/{id}"),
    ))
}

/// The page for an incident id that is not in the history.
pub fn render_not_found() -> String {
    html! {
        (DOCTYPE)
        html lang="id" {
            head { meta charset="utf-8"; title { "404" } }
            body { main { h1 { "404" } p { a href="/" { "Status" } } } }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> StatusSnapshot {
        let days = (0..90)
            .map(|i| DayUptime {
                date: format!("2026-09-{:02}", i % 28 + 1),
                uptime_pct: if i < 10 { None } else { Some(99.5) },
                major_min: i64::from(i == 50) * 7,
                partial_min: 0,
                degraded_min: 0,
                maintenance_min: 0,
            })
            .collect();
        StatusSnapshot {
            subscribe: true,
            generated_at: 1_795_000_000_000,
            changed_at: 1_795_000_000_000,
            page_name: "Status <Konter>".into(),
            public_url: "http://example.test".into(),
            overall: ComponentStatus::MajorOutage,
            headline: Headline::MajorOutage,
            page_id: "testpage0001".into(),
            components: vec![ComponentView {
                id: "xl".into(),
                name: "XL <script>".into(),
                status: ComponentStatus::MajorOutage,
                updated_at: 0,
                created_at: 0,
                days,
            }],
            active_incidents: vec![IncidentView {
                id: 7,
                title_id: "Gangguan: XL".into(),
                title_en: "Outage: XL".into(),
                status: "investigating".into(),
                impact: "critical".into(),
                components: vec!["XL".into()],
                security: true,
                created_at: 0,
                updated_at: 0,
                resolved_at: None,
                updates: vec![UpdateView {
                    id: 1,
                    status: "investigating".into(),
                    body_id: "<b>ditahan</b>".into(),
                    body_en: "held".into(),
                    at: 0,
                    affected: Vec::new(),
                }],
                postmortem_id: None,
                postmortem_en: None,
            }],
            history: vec![],
            maintenances: vec![],
            past_maintenances: vec![],
        }
    }

    #[test]
    fn escapes_and_speaks_both_languages() {
        let s = snap();
        let id = render_index(&s, Lang::Id);
        assert!(!id.contains("<script>") && id.contains("XL &lt;script&gt;"));
        assert!(id.contains("&lt;b&gt;ditahan&lt;/b&gt;"));
        assert!(
            id.contains("Gangguan besar") && id.contains("lang=\"id\"") && id.contains("Keamanan")
        );
        assert_eq!(id.matches("class=\"day ").count(), 90);
        assert_eq!(id.matches("tabindex=\"0\"").count(), 90);
        let en = render_index(&s, Lang::En);
        assert!(
            en.contains("Major outage")
                && en.contains("lang=\"en\"")
                && en.contains("held")
                && en.contains("Security")
        );
        assert!(render_incident(&s, 99, Lang::Id).is_none());
    }
}
