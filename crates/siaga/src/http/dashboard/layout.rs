//! The dashboard's frame (SPEC 13): one maud layout for every page (navigation, the
//! language switch, the banner when a supplier is down or the desk waits), its style sheet
//! (inline, allowed by hash in the Content-Security-Policy) and the owner's formats:
//! `Rp 1.234.500`, exact times beside relative ones, states in words as well as colour.

use maud::{html, Markup, DOCTYPE};

use super::session::Role;

/// The page's language: Indonesian unless `?lang=en`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    pub fn pick<'a>(self, id: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Id => id,
            Lang::En => en,
        }
    }

    fn code(self) -> &'static str {
        self.pick("id", "en")
    }

    /// `lang=en` in the query string.
    pub fn of_query(q: Option<&str>) -> Lang {
        let en = q.is_some_and(|q| q.split('&').any(|kv| kv == "lang=en"));
        if en {
            Lang::En
        } else {
            Lang::Id
        }
    }
}

pub const CSS: &str = "
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1a1a1a;background:#f4f5f7}
a{color:#0b57d0}header{background:#14213d;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center}
header a{color:#fff;text-decoration:none;padding:.25rem .1rem}header a[aria-current]{border-bottom:2px solid #fca311}
header .who{margin-left:auto;display:flex;gap:.5rem;align-items:center}
main{max-width:70rem;margin:0 auto;padding:1rem}h1{font-size:1.4rem;margin:.25rem 0 1rem}h2{font-size:1.1rem}
.banner{background:#b3261e;color:#fff;padding:.6rem 1rem;border-radius:.35rem;margin-bottom:1rem}
.banner.warn{background:#8a5300}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.75rem;margin-bottom:1rem}
.card{background:#fff;border:1px solid #d8dbe0;border-radius:.4rem;padding:.6rem .8rem}.card b{display:block;font-size:1.3rem}
.table{overflow-x:auto;background:#fff;border:1px solid #d8dbe0;border-radius:.4rem;margin-bottom:1rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #eceef1;vertical-align:top}
th{font-weight:600;background:#f0f2f5}td.num,th.num{text-align:right;white-space:nowrap}
.state{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:.85rem;border:1px solid}
.ok{color:#0a6b2d;border-color:#0a6b2d}.bad{color:#b3261e;border-color:#b3261e}.mid{color:#8a5300;border-color:#8a5300}
form.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.5rem 0 1rem}
label{display:flex;flex-direction:column;font-size:.9rem;gap:.15rem}
input,select,button{font:inherit;padding:.35rem .5rem;border:1px solid #8d939c;border-radius:.3rem;max-width:100%}
button{background:#14213d;color:#fff;border-color:#14213d;cursor:pointer}
.empty{color:#555;font-style:italic}.muted{color:#555}.error{color:#b3261e;font-weight:600}
.login{max-width:24rem;margin:3rem auto;background:#fff;padding:1.5rem;border-radius:.5rem;border:1px solid #d8dbe0}
.login form{display:flex;flex-direction:column;gap:.75rem}
textarea{font:inherit;padding:.35rem .5rem;border:1px solid #8d939c;border-radius:.3rem;width:100%}
form>label{margin-bottom:.5rem}label.check{flex-direction:row;gap:.4rem;align-items:center}
.buttons{display:flex;flex-wrap:wrap;gap:.5rem}section{background:#fff;border:1px solid #d8dbe0;border-radius:.4rem;padding:.2rem .9rem .6rem;margin-bottom:1rem}
pre.notice{white-space:pre-wrap;background:#f0f2f5;padding:.6rem;border-radius:.3rem}code{overflow-wrap:anywhere}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #d8dbe0;border-radius:.4rem;margin-bottom:1rem;font-size:13px}
svg .ok{fill:#0a6b2d}svg .mid{fill:#8a5300}svg .bad{fill:#b3261e}svg .lane{fill:#eceef1}svg .small{font-size:11px;fill:#444}
@media (max-width:30rem){header{font-size:.95rem}main{padding:.6rem}}
";

/// The pages in the navigation: path, Indonesian name, English name, owner only.
const NAV: [(&str, &str, &str, bool); 11] = [
    ("/admin", "Ringkasan", "Overview", false),
    ("/admin/suppliers", "Supplier", "Suppliers", false),
    ("/admin/orders", "Pesanan", "Orders", false),
    ("/admin/desk", "Meja manual", "Desk", false),
    ("/admin/resellers", "Reseller", "Resellers", false),
    ("/admin/incidents", "Insiden", "Incidents", false),
    ("/admin/subscribers", "Pelanggan", "Subscribers", false),
    ("/admin/vouchers", "Voucher", "Vouchers", false),
    ("/admin/reports", "Laporan", "Reports", false),
    ("/admin/config", "Konfigurasi", "Config", true),
    ("/admin/audit", "Audit", "Audit", false),
];

/// What every page shows around its own content.
pub struct Frame<'a> {
    pub lang: Lang,
    /// The path of this page (marks the current navigation entry).
    pub path: &'a str,
    pub title: &'a str,
    pub user: &'a str,
    pub role: Role,
    pub csrf: &'a str,
    /// A warning for every page: suppliers down, desk waiting.
    pub banners: Vec<(bool, String)>,
}

/// A whole page.
pub fn page(f: &Frame<'_>, body: Markup) -> String {
    let l = f.lang;
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (f.title) " · siaga admin" }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                header {
                    strong { "siaga" }
                    nav aria-label=(l.pick("Menu admin", "Admin menu")) {
                        @for (path, id, en, owner) in NAV {
                            @if !owner || f.role == Role::Owner {
                                @if path == f.path {
                                    a href=(with_lang(path, l)) aria-current="page" { (l.pick(id, en)) }
                                    " "
                                } @else {
                                    a href=(with_lang(path, l)) { (l.pick(id, en)) }
                                    " "
                                }
                            }
                        }
                    }
                    div.who {
                        span { (f.user) }
                        a href=(format!("{}?lang={}", f.path, l.pick("en", "id"))) { (l.pick("English", "Indonesia")) }
                        form method="post" action="/admin/logout" {
                            input type="hidden" name="csrf" value=(f.csrf);
                            button type="submit" { (l.pick("Keluar", "Sign out")) }
                        }
                    }
                }
                main {
                    @for (severe, text) in &f.banners {
                        div.banner.warn[!severe] role="status" { (text) }
                    }
                    h1 { (f.title) }
                    (body)
                }
            }
        }
    }
    .into_string()
}

/// `path` keeping the page's language.
pub fn with_lang(path: &str, l: Lang) -> String {
    match l {
        Lang::Id => path.to_owned(),
        Lang::En if path.contains('?') => format!("{path}&lang=en"),
        Lang::En => format!("{path}?lang=en"),
    }
}

/// `Rp 1.234.500` (negative: `-Rp 1.234.500`).
pub fn rupiah(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + 8);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}Rp {out}")
}

/// "3 menit lalu" / "3 min ago" (the exact time goes in a `title`).
pub fn ago(then: i64, now: i64, l: Lang) -> String {
    let s = (now - then).max(0) / 1000;
    let (n, id, en) = if s < 60 {
        (s, "detik", "s")
    } else if s < 3_600 {
        (s / 60, "menit", "min")
    } else if s < 86_400 {
        (s / 3_600, "jam", "h")
    } else {
        (s / 86_400, "hari", "d")
    };
    match l {
        Lang::Id => format!("{n} {id} lalu"),
        Lang::En => format!("{n} {en} ago"),
    }
}

/// A time as the owner reads it: relative, with the exact WIB time on hover.
pub fn when(then: i64, now: i64, l: Lang) -> Markup {
    html! {
        time datetime=(crate::clock::rfc3339(then)) title=(crate::clock::wib_in(then, l == Lang::Id, true)) {
            (ago(then, now, l))
        }
    }
}

/// A state in words and colour: `ok` (good), `mid` (in between) or `bad`.
pub fn state(class: &str, text: &str) -> Markup {
    html! { span class=(format!("state {class}")) { (text) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rupiah_is_grouped_the_indonesian_way() {
        assert_eq!(rupiah(1_234_500), "Rp 1.234.500");
        assert_eq!(rupiah(500), "Rp 500");
        assert_eq!(rupiah(0), "Rp 0");
        assert_eq!(rupiah(-10_500), "-Rp 10.500");
    }

    #[test]
    fn relative_times_in_both_languages() {
        assert_eq!(ago(0, 90_000, Lang::Id), "1 menit lalu");
        assert_eq!(ago(0, 7_200_000, Lang::En), "2 h ago");
        assert_eq!(ago(10, 0, Lang::En), "0 s ago");
    }
}
