//! What `siaga config check` prints about a config that loaded: per supplier its dialect,
//! preset, address, templated requests, reply rules, report route (secret masked), report
//! sign, allowed report addresses and the routes through it; then one `ok` line. No
//! secret is ever printed.

use siaga_suppliers::template::reply::Format;
use siaga_suppliers::template::spec::{BodyEncoding, Method, RequestCfg};

use super::adapter::report_path;
use super::raw::Config;
use super::settings::Settings;
use super::suppliers::Supplier;

fn request(r: &RequestCfg) -> String {
    let method = match r.method {
        Method::GET => "GET",
        Method::POST => "POST",
    };
    let encoding = match r.encoding {
        BodyEncoding::Query => "query",
        BodyEncoding::Form => "form",
        BodyEncoding::Json => "json",
    };
    let signed = match &r.sign {
        Some(s) => format!(", signed {}", s.algo.name()),
        None => String::new(),
    };
    format!("{method} {} ({encoding}{signed})", r.path)
}

/// The lines about one templated supplier's requests, replies and reports.
fn template_lines(s: &Supplier, out: &mut Vec<String>) {
    let Some(t) = &s.template else { return };
    let t = &t.template;
    out.push(format!("  topup: {}", request(&t.topup)));
    out.push(if t.own_inquiry {
        format!("  inquiry: {}", request(&t.inquiry))
    } else {
        "  inquiry: the top-up resent as is".to_owned()
    });
    out.push(match &t.balance {
        Some(b) => format!("  balance: {}", request(b)),
        None => "  balance: none (no balance probe)".to_owned(),
    });
    let format = match t.reply.format {
        Format::Text => "text",
        Format::Json => "json",
    };
    out.push(format!("  reply: {format}, {} rules", t.reply.rules.len()));
    let sign = t.callback.as_ref().and_then(|c| c.sign.as_ref());
    if let Some(sign) = sign {
        let place = match (&sign.header, &sign.query, &sign.pointer) {
            (Some(h), _, _) => format!("header {h}"),
            (None, Some(q), _) => format!("query {q}"),
            (None, None, Some(p)) => format!("pointer {p}"),
            (None, None, None) => String::new(),
        };
        out.push(format!(
            "  report sign: {} {} in {place}, input {:?}",
            sign.algo.name(),
            sign.encoding.name(),
            sign.input
        ));
    } else if t.callback.is_none() {
        out.push("  reports: this template reads none".to_owned());
    }
}

/// The summary of a config that loaded, ending with the `ok` line.
pub fn summary(file: &str, cfg: &Config, s: &Settings) -> String {
    let mut out = Vec::new();
    for (sup, raw) in s.suppliers.iter().zip(&cfg.suppliers) {
        let preset = raw
            .preset
            .as_deref()
            .map(|p| format!(", preset {p}"))
            .unwrap_or_default();
        out.push(format!(
            "supplier {}: dialect {}{preset}, base_url {}",
            sup.id, raw.dialect, sup.base_url
        ));
        template_lines(sup, &mut out);
        let route = report_path(sup, true);
        let how = match &sup.template {
            None => "signed: X-Hub-Signature",
            Some(t) if t.template.signs_reports() => "signed: the report sign above",
            Some(_) => "the secret in the URL",
        };
        out.push(match &sup.callback_secret {
            Some(_) => format!("  report route: GET|POST {route} ({how})"),
            None => format!("  report route: {route} (refused: no callback_secret_env is set)"),
        });
        if !sup.callback_allow_ips.is_empty() {
            let ips: Vec<String> = sup
                .callback_allow_ips
                .iter()
                .map(ToString::to_string)
                .collect();
            out.push(format!("  reports only from: {}", ips.join(", ")));
        }
        let routes: Vec<String> = s
            .products
            .iter()
            .flat_map(|p| p.routes.iter().map(move |r| (p, r)))
            .filter(|(_, r)| r.supplier == sup.id)
            .map(|(p, r)| format!("{} (sku {}, cost {})", p.code, r.sku, r.cost.get()))
            .collect();
        out.push(if routes.is_empty() {
            "  routes: none (no product uses it)".to_owned()
        } else {
            format!("  routes: {}", routes.join(", "))
        });
    }
    let routes: usize = s.products.iter().map(|p| p.routes.len()).sum();
    out.push(format!(
        "ok: {file}: {} suppliers, {} products, {routes} routes; store {} (not opened)",
        s.suppliers.len(),
        s.products.len(),
        s.store_path.display()
    ));
    out.join("\n")
}
