//! The server-rendered status page (`/`, `/history`, `/incidents/{id}`): plain HTML and CSS,
//! no JavaScript, Indonesian by default and English on request, readable on a phone.
//! Built with maud, which escapes every value it splices in; nothing private is shown
//! (SPEC 3.6).

use maud::{html, Markup, PreEscaped, DOCTYPE};
use siaga_domain::status::{ComponentStatus, Headline};

use super::view::*;

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
/// Day colours reach 3:1 against the white card and are told apart without colour too:
/// outages darken with the share of the day that was down, degraded days are hatched
/// across and maintenance days striped (checked with deuteranopia, protanopia and
/// tritanopia simulations).
pub const CSS: &str = "
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1a1a1a;background:#f6f7f9}
main,header,footer{max-width:52rem;margin:0 auto;padding:0 1rem}header{display:flex;justify-content:space-between;align-items:center;padding-top:1rem;flex-wrap:wrap;gap:.5rem}
.skip{position:absolute;left:.5rem;top:-4rem;background:#fff;padding:.5rem .75rem;border-radius:.35rem;z-index:3}.skip:focus{top:.5rem}
.brand{margin:0;font-weight:600}.brand a{display:inline-flex;align-items:center;gap:.5rem;color:inherit;text-decoration:none}.brand img{height:2rem;width:auto}
nav{display:flex;flex-wrap:wrap;align-items:center;gap:.25rem .9rem}
h1{font-size:1.4rem;margin:.5rem 0}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}h3{font-size:1rem;margin:0}h4{font-size:1rem;margin:.75rem 0 .25rem}
a{color:#0b4f9c}a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible{outline:3px solid #0b4f9c;outline-offset:2px}
.btn{display:inline-block;background:#0b4f9c;color:#fff;border:0;border-radius:.35rem;padding:.45rem .9rem;font:inherit;font-weight:600;text-decoration:none;cursor:pointer}.btn:hover{background:#083d7a}
.banner{padding:1rem;border-radius:.5rem;font-weight:600;margin:1rem 0;color:#fff}
.banner.ok{background:#16703a}.banner.deg{background:#8a5300}.banner.part{background:#a3410c}.banner.major{background:#b3261e}.banner.maint{background:#1d5ea8}
.card{background:#fff;border:1px solid #d9dde3;border-radius:.5rem;padding:1rem;margin:.75rem 0}
.row{display:flex;justify-content:space-between;gap:.5rem;flex-wrap:wrap}.st{font-weight:600}.st.ok{color:#16703a}.st.deg{color:#8a5300}.st.part{color:#a3410c}.st.major{color:#b3261e}.st.maint{color:#1d5ea8}
.bar{position:relative;display:flex;gap:2px;list-style:none;margin:.5rem 0 .25rem;padding:0;height:2.25rem}
.day{flex:1;min-width:0;border-radius:2px;background:#8a929e}.bar .day:hover{outline:2px solid #1a1a1a;outline-offset:1px}
.day.ok{background:#23875a}.day.deg{background:#a27a00 repeating-linear-gradient(0deg,transparent 0 4px,#fff8 4px 6px)}.day.d1{background:#c8400c}.day.d2{background:#9b1c14}.day.d3{background:#520a06}.day.mnt{background:#3465c4}
.day.m{background-image:repeating-linear-gradient(45deg,transparent 0 4px,#fffa 4px 6px)}
.tip,.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.day:hover .tip{left:0;right:0;bottom:calc(100% + .4rem);width:auto;height:auto;clip:auto;overflow:visible;white-space:normal;background:#1a1a1a;color:#fff;padding:.4rem .6rem;border-radius:.3rem;font-size:.85rem;z-index:2}
.d30{display:none}@media (max-width:40rem){.bar .day:nth-child(-n+60){display:none}.d90{display:none}.d30{display:inline}.scale{font-size:.8rem;flex-wrap:nowrap}.scale span{white-space:nowrap}}
.legend{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;padding:0;margin:.5rem 0;font-size:.9rem}.legend .day{display:inline-block;width:.9rem;height:.9rem;vertical-align:-.15rem;margin-right:.35rem}
.muted{color:#4a5260;font-size:.9rem}details{margin-top:.5rem}summary{cursor:pointer;color:#0b4f9c}details ul{margin:.25rem 0;padding-left:1.25rem}
.card>h2:first-child{margin-top:0}.sub label{display:block;font-weight:600}
input[type=email]{display:block;width:100%;max-width:24rem;font:inherit;padding:.4rem .6rem;border:1px solid #6b7480;border-radius:.35rem}
fieldset{border:1px solid #d9dde3;border-radius:.35rem;margin:.5rem 0 0;padding:.25rem .75rem .5rem}fieldset label{display:block;font-weight:400}.sub .btn{margin-top:.75rem}
ol.tl{list-style:none;padding:0;margin:.5rem 0 0}ol.tl li{border-left:3px solid #d9dde3;padding:.25rem 0 .5rem .75rem}
.tag{display:inline-block;background:#b3261e;color:#fff;border-radius:.25rem;padding:0 .4rem;font-size:.8rem;margin-left:.3rem}.tag.mt{background:#1d5ea8}
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

/// A time in WIB with the month named in the page's language.
fn when(ms: i64, lang: Lang) -> String {
    crate::clock::wib_in(ms, lang == Lang::Id, true)
}

/// What a page needs besides its body.
struct Frame<'a> {
    title: &'a str,
    /// The page's path, for the link to the other language.
    path: &'a str,
    /// Reload every minute (an incident is active): `<meta http-equiv="refresh">`.
    refresh: bool,
}

/// The header: the logo (when configured) and name, then language, history, feed and the
/// subscribe button.
fn header(s: &StatusSnapshot, lang: Lang, path: &str, logo: Option<&str>) -> Markup {
    let (other, other_name) = if lang == Lang::En {
        ("id", "Bahasa Indonesia")
    } else {
        ("en", "English")
    };
    let here = code(lang);
    html! {
        header {
            p class="brand" {
                a href={ "/?lang=" (here) } {
                    @if let Some(src) = logo { img src=(src) alt="" height="32"; }
                    (s.page_name)
                }
            }
            nav aria-label=(t(lang, "Navigasi", "Navigation")) {
                a href={ (path) "?lang=" (other) } lang=(other) { (other_name) }
                a href={ "/history?lang=" (here) } { (t(lang, "Riwayat insiden", "Incident history")) }
                a href="/history.atom" { "Atom" }
                @if s.subscribe {
                    a class="btn" href={ @if path != "/" { "/?lang=" (here) } "#subscribe" } {
                        (t(lang, "Berlangganan", "Subscribe"))
                    }
                }
            }
        }
    }
}

fn page(lang: Lang, f: &Frame, body: Markup, s: &StatusSnapshot) -> String {
    let logo = s.logo_url.as_deref();
    let markup = html! {
        (DOCTYPE) "\n"
        html lang=(code(lang)) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if f.refresh { meta http-equiv="refresh" content="60"; }
                title { (f.title) }
                link rel="icon" type="image/svg+xml" href="/favicon.svg";
                link rel="alternate" type="application/atom+xml" href="/history.atom"
                    title=(t(lang, "Riwayat insiden", "Incident history"));
                // A constant of ours inside a raw-text element: nothing to escape.
                style { (PreEscaped(CSS)) }
            }
            body {
                a class="skip" href="#main" { (t(lang, "Langsung ke isi", "Skip to content")) }
                (header(s, lang, f.path, logo))
                main id="main" { (body) }
                footer {
                    p { (t(
                        lang,
                        "Uptime harian memakai rumus Statuspage: waktu gangguan = menit gangguan besar + 0,3 × menit gangguan sebagian; kinerja menurun tidak dihitung sebagai gangguan; pemeliharaan yang diumumkan tidak dihitung.",
                        "Daily uptime uses Statuspage's formula: downtime = minutes of major outage + 0.3 × minutes of partial outage; degraded performance is not downtime; announced maintenance is excluded."
                    )) }
                    p { (t(lang, "Diperbarui", "Updated")) " " (when(s.generated_at, lang)) }
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

/// A day's colour: darker the more of it was down (`d1` under 1 %, `d2` under 10 %, `d3`
/// more), hatched when only degraded, blue for maintenance alone; ` m` stripes every day
/// that had maintenance.
fn day_class(d: &DayUptime) -> String {
    let base = match d.uptime_pct {
        None => "none",
        Some(p) if d.major_min + d.partial_min > 0 => {
            if p < 90.0 {
                "d3"
            } else if p < 99.0 {
                "d2"
            } else {
                "d1"
            }
        }
        Some(_) if d.degraded_min > 0 => "deg",
        Some(_) if d.maintenance_min > 0 => "mnt",
        Some(_) => "ok",
    };
    if d.maintenance_min > 0 {
        format!("day {base} m")
    } else {
        format!("day {base}")
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

/// `2026-08-22` as `22 Agu 2026` (or `22 Aug 2026`); the text itself when it is not a date.
fn day_name(date: &str, lang: Lang) -> String {
    date.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| {
            d.at(12, 0, 0, 0)
                .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
                .ok()
        })
        .map(|z| crate::clock::wib_in(z.timestamp().as_millisecond(), lang == Lang::Id, false))
        .unwrap_or_else(|| date.to_string())
}

/// A day in words: its date, uptime and only the kinds of minutes it had.
fn day_text(d: &DayUptime, lang: Lang) -> String {
    let uptime = if d.uptime_pct.is_some() {
        "uptime "
    } else {
        ""
    };
    let mut s = format!(
        "{}: {uptime}{}",
        day_name(&d.date, lang),
        pct(d.uptime_pct, lang)
    );
    for (n, id, en) in [
        (d.major_min, "gangguan besar", "major outage"),
        (d.partial_min, "gangguan sebagian", "partial outage"),
        (d.degraded_min, "kinerja menurun", "degraded"),
        (d.maintenance_min, "pemeliharaan", "maintenance"),
    ] {
        if n > 0 {
            s.push_str(&format!(
                "; {} {n} {}",
                t(lang, id, en),
                t(lang, "menit", "min")
            ));
        }
    }
    s
}

/// A day that had anything but plain operation.
fn troubled(d: &DayUptime) -> bool {
    d.major_min + d.partial_min + d.degraded_min + d.maintenance_min > 0
}

/// The 90-day bar is a picture for the pointer (each day's text shows on hover, once, in
/// the page); what it says is also in words beside it — the average and a list of the
/// days that had trouble — so the bar itself is hidden from assistive technology and has
/// no tab stops.
fn component(c: &ComponentView, lang: Lang) -> Markup {
    let counted: Vec<f64> = c.days.iter().filter_map(|d| d.uptime_pct).collect();
    let avg = (!counted.is_empty()).then(|| counted.iter().sum::<f64>() / counted.len() as f64);
    let bad: Vec<&DayUptime> = c.days.iter().filter(|d| troubled(d)).collect();
    html! {
        section class="card" aria-labelledby={ "c-" (c.id) } {
            div class="row" {
                h3 id={ "c-" (c.id) } { (c.name) }
                span class={ "st " (class(c.status)) } { (status_word(c.status, lang)) }
            }
            ol class="bar" aria-hidden="true" {
                @for d in &c.days {
                    li class=(day_class(d)) { span class="tip" { (day_text(d, lang)) } }
                }
            }
            div class="row muted scale" {
                span class="d90" { (t(lang, "90 hari lalu", "90 days ago")) }
                span class="d30" { (t(lang, "30 hari lalu", "30 days ago")) }
                span { (t(lang, "Uptime 90 hari:", "90-day uptime:")) " " (pct(avg, lang)) }
                span { (t(lang, "Hari ini", "Today")) }
            }
            @if bad.is_empty() {
                p class="sr" { (t(lang, "Tidak ada hari bermasalah dalam 90 hari.", "No day with trouble in 90 days.")) }
            } @else {
                details {
                    summary { (bad.len()) " " (t(lang, "hari bermasalah dalam 90 hari", "days with trouble in 90 days")) }
                    ul { @for d in &bad { li { (day_text(d, lang)) } } }
                }
            }
        }
    }
}

/// What the colours of the bars mean.
fn legend(lang: Lang) -> Markup {
    let keys = [
        ("ok", t(lang, "Normal", "Operational")),
        ("deg", t(lang, "Kinerja menurun", "Degraded")),
        ("d1", t(lang, "Gangguan < 1% hari", "Down < 1% of the day")),
        ("d2", t(lang, "Gangguan 1–10%", "Down 1–10%")),
        ("d3", t(lang, "Gangguan > 10%", "Down > 10%")),
        (
            "mnt",
            t(lang, "Pemeliharaan (bergaris)", "Maintenance (striped)"),
        ),
        ("none", t(lang, "Tidak ada data", "No data")),
    ];
    html! {
        ul class="legend" aria-label=(t(lang, "Arti warna", "Colour key")) {
            @for (k, word) in keys {
                li { span class={ "day " (k) @if k == "mnt" { " m" } } {} (word) }
            }
        }
    }
}

/// `h1`..`h4` around some content.
fn heading(level: u8, inner: Markup) -> Markup {
    match level {
        1 => html! { h1 { (inner) } },
        2 => html! { h2 { (inner) } },
        3 => html! { h3 { (inner) } },
        _ => html! { h4 { (inner) } },
    }
}

/// `2 jam 5 menit` / `2 h 5 min`.
fn duration(ms: i64, lang: Lang) -> String {
    let min = (ms.max(0) + 30_000) / 60_000;
    let (d, h, m) = (min / 1440, min / 60 % 24, min % 60);
    let (dw, hw, mw) = (
        t(lang, "hari", "d"),
        t(lang, "jam", "h"),
        t(lang, "menit", "min"),
    );
    match (d, h) {
        (0, 0) => format!("{m} {mw}"),
        (0, _) => format!("{h} {hw} {m} {mw}"),
        _ => format!("{d} {dw} {h} {hw}"),
    }
}

/// An incident's card; its title is a heading of `level` (1 on its own page).
fn incident(i: &IncidentView, lang: Lang, level: u8, link: bool) -> Markup {
    let title = if lang == Lang::En {
        &i.title_en
    } else {
        &i.title_id
    };
    let postmortem = match (lang, &i.postmortem_id, &i.postmortem_en) {
        (Lang::En, _, Some(p)) | (Lang::Id, Some(p), _) => Some(p),
        _ => None,
    };
    let head = html! {
        @if link {
            a href={ "/incidents/" (i.id) "?lang=" (code(lang)) } { (title) }
        } @else {
            (title)
        }
        @if i.security { span class="tag" { (t(lang, "Keamanan", "Security")) } }
    };
    html! {
        article class="card" {
            (heading(level, head))
            p class="muted" {
                (t(lang, "Status", "Status")) ": " (incident_state(&i.status, lang))
                " · " (t(lang, "Terdampak", "Affected")) ": " (i.components.join(", "))
                br;
                (t(lang, "Mulai", "Started")) " " (when(i.created_at, lang)) " · "
                @match i.resolved_at {
                    Some(r) => { (t(lang, "Durasi", "Duration")) " " (duration(r - i.created_at, lang)) },
                    None => { (t(lang, "masih berlangsung", "ongoing")) },
                }
            }
            ol class="tl" {
                @for u in i.updates.iter().rev() {
                    li {
                        strong { (incident_state(&u.status, lang)) }
                        " — " (if lang == Lang::En { &u.body_en } else { &u.body_id }) " "
                        span class="muted" { "(" (when(u.at, lang)) ")" }
                    }
                }
            }
            @if let Some(p) = postmortem {
                (heading(level + 1, html! { (t(lang, "Laporan pasca-insiden", "Postmortem")) }))
                p { (p) }
            }
        }
    }
}

/// A maintenance window's card; `tagged` (in the history, among incidents) marks it as one.
fn maintenance(m: &MaintenanceView, lang: Lang, level: u8, tagged: bool) -> Markup {
    let state = match m.status {
        "in_progress" => t(lang, "sedang berlangsung", "in progress"),
        "verifying" => t(lang, "sedang diperiksa", "verifying"),
        "completed" => t(lang, "selesai", "completed"),
        _ => t(lang, "akan datang", "upcoming"),
    };
    html! {
        div class="card" {
            (heading(level, html! {
                (super::json::maintenance_name(m, lang))
                @if tagged {
                    span class="tag mt" {
                        @if m.status == "completed" {
                            (t(lang, "Pemeliharaan selesai", "Completed maintenance"))
                        } @else {
                            (t(lang, "Pemeliharaan", "Maintenance"))
                        }
                    }
                }
            }))
            p {
                (when(m.starts_at, lang)) " — " (when(m.ends_at, lang)) " "
                span class="muted" {
                    "(" (state) ", " (duration(m.ends_at - m.starts_at, lang)) ")"
                }
            }
            p { (super::json::maintenance_body(m, lang)) }
        }
    }
}

/// The subscription form: an email address and, optionally, which components.
fn subscribe_form(s: &StatusSnapshot, lang: Lang) -> Markup {
    html! {
        section class="card sub" aria-labelledby="subscribe" {
            h2 id="subscribe" { (t(lang, "Berlangganan pemberitahuan", "Subscribe to updates")) }
            p { (t(
                lang,
                "Dapatkan email saat ada gangguan, pembaruan, dan pemeliharaan. Kami mengirim tautan konfirmasi dulu.",
                "Get an email when there is an incident, an update or maintenance. We send a confirmation link first."
            )) }
            form method="post" action="/subscribe" {
                input type="hidden" name="lang" value=(code(lang));
                label for="sub-email" { "Email" }
                input id="sub-email" type="email" name="email" autocomplete="email" required;
                details {
                    summary { (t(lang, "Pilih komponen (tanpa pilihan: semua)", "Choose components (none chosen: all)")) }
                    fieldset {
                        legend { (t(lang, "Komponen", "Components")) }
                        @for c in &s.components {
                            label { input type="checkbox" name="components[]" value=(c.id); " " (c.name) }
                        }
                    }
                }
                button class="btn" type="submit" { (t(lang, "Berlangganan", "Subscribe")) }
            }
        }
    }
}

/// The front page. `refresh`: the visitor asked it to reload itself every minute while
/// an incident is open (`/?refresh=1`). Not by default: a page that reloads under a
/// screen reader is an accessibility failure (WCAG F41), so it is the visitor's choice,
/// offered by a link while there is an incident to follow.
pub fn render_index(s: &StatusSnapshot, lang: Lang, refresh: bool) -> String {
    let active = !s.active_incidents.is_empty();
    let en = if lang == Lang::En { "&lang=en" } else { "" };
    let body = html! {
        h1 { (s.page_name) }
        (banner(s, lang))
        @if active {
            h2 { (t(lang, "Insiden aktif", "Active incidents")) }
            p {
                @if refresh {
                    (t(lang, "Halaman ini dimuat ulang setiap menit.", "This page reloads every minute."))
                    " "
                    a href={ "/?refresh=0" (en) } { (t(lang, "Hentikan", "Stop")) }
                } @else {
                    a href={ "/?refresh=1" (en) } {
                        (t(lang, "Muat ulang otomatis setiap menit", "Reload automatically every minute"))
                    }
                }
            }
            @for i in &s.active_incidents { (incident(i, lang, 3, true)) }
        }
        @if !s.maintenances.is_empty() {
            h2 { (t(lang, "Pemeliharaan terjadwal", "Scheduled maintenance")) }
            @for m in &s.maintenances { (maintenance(m, lang, 3, false)) }
        }
        @if s.subscribe { (subscribe_form(s, lang)) }
        h2 { (t(lang, "Komponen", "Components")) }
        (legend(lang))
        @for c in &s.components { (component(c, lang)) }
    };
    let frame = Frame {
        title: &s.page_name,
        path: "/",
        refresh: refresh && active,
    };
    page(lang, &frame, body, s)
}

/// One entry of the history: an incident (by its start) or a maintenance window.
enum Past<'a> {
    Incident(&'a IncidentView),
    Maintenance(&'a MaintenanceView),
}

impl Past<'_> {
    fn at(&self) -> i64 {
        match self {
            Past::Incident(i) => i.created_at,
            Past::Maintenance(m) => m.starts_at,
        }
    }
}

/// The history, newest first, in groups of one WIB day each.
fn by_day(s: &StatusSnapshot) -> Vec<(i64, Vec<Past<'_>>)> {
    let mut all: Vec<Past> = s.history.iter().map(Past::Incident).collect();
    all.extend(s.past_maintenances.iter().map(Past::Maintenance));
    all.sort_by_key(|p| std::cmp::Reverse(p.at()));
    let mut days: Vec<(i64, Vec<Past>)> = Vec::new();
    for p in all {
        let day = (p.at() + 7 * 3_600_000).div_euclid(86_400_000);
        match days.last_mut() {
            Some((d, list)) if *d == day => list.push(p),
            _ => days.push((day, vec![p])),
        }
    }
    days
}

pub fn render_history(s: &StatusSnapshot, lang: Lang) -> String {
    let days = by_day(s);
    let body = html! {
        h1 { (t(lang, "Riwayat insiden dan pemeliharaan (90 hari)", "Incident and maintenance history (90 days)")) }
        @if days.is_empty() {
            p { (t(lang, "Tidak ada insiden.", "No incidents.")) }
        }
        @for (day, list) in &days {
            h2 { (crate::clock::wib_in(day * 86_400_000, lang == Lang::Id, false)) }
            @for p in list {
                @match p {
                    Past::Incident(i) => { (incident(i, lang, 3, true)) },
                    Past::Maintenance(m) => { (maintenance(m, lang, 3, true)) },
                }
            }
        }
    };
    let frame = Frame {
        title: t(lang, "Riwayat insiden", "Incident history"),
        path: "/history",
        refresh: false,
    };
    page(lang, &frame, body, s)
}

pub fn render_incident(s: &StatusSnapshot, id: i64, lang: Lang) -> Option<String> {
    let i = s.history.iter().find(|i| i.id == id)?;
    let title = if lang == Lang::En {
        &i.title_en
    } else {
        &i.title_id
    };
    let path = format!("/incidents/{id}");
    let frame = Frame {
        title,
        path: &path,
        refresh: false,
    };
    Some(page(lang, &frame, incident(i, lang, 1, false), s))
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
            logo_url: Some("/logo.png?a=1&b=\"x".into()),
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
        let id = render_index(&s, Lang::Id, true);
        assert!(!id.contains("<script>") && id.contains("XL &lt;script&gt;"));
        assert!(id.contains("&lt;b&gt;ditahan&lt;/b&gt;"));
        assert!(
            id.contains("Gangguan besar") && id.contains("lang=\"id\"") && id.contains("Keamanan")
        );
        // Each day's text once, no tab stop per day; the troubled day is listed in words.
        assert_eq!(id.matches("<li class=\"day ").count(), 90);
        assert!(!id.contains("tabindex") && !id.contains("aria-label=\"2026-"));
        assert_eq!(
            id.matches("gangguan besar 7 menit").count(),
            2,
            "tooltip and list"
        );
        assert!(id.contains("<li class=\"day d1\">") && id.contains("1 hari bermasalah"));
        assert!(id.contains("http-equiv=\"refresh\" content=\"60\""));
        assert!(id.contains("value=\"xl\"") && id.contains("href=\"/favicon.svg\""));
        let en = render_index(&s, Lang::En, false);
        assert!(!en.contains("http-equiv") && en.contains("/?refresh=1&amp;lang=en"));
        assert!(
            en.contains("Major outage")
                && en.contains("lang=\"en\"")
                && en.contains("held")
                && en.contains("Security")
        );
        assert!(render_incident(&s, 99, Lang::Id).is_none());
    }

    #[test]
    fn the_header_shows_a_logo_when_given_one() {
        let s = snap();
        let h = header(&s, Lang::En, "/history", Some("/logo.svg?a=1&b=\"x")).into_string();
        assert!(
            h.contains("<img src=\"/logo.svg?a=1&amp;b=&quot;x\" alt=\"\""),
            "{h}"
        );
        assert!(h.contains("href=\"/?lang=en#subscribe\""), "{h}");
        assert!(!header(&s, Lang::Id, "/", None)
            .into_string()
            .contains("<img"));
    }
}
